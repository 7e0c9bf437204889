/**
 * zod schemas for hangar.toml / fly.toml. Each table schema validates the file's snake_case keys and
 * transforms into the camelCase types of ./types.ts, so the schema is the one place that knows both
 * spellings. Cross-field rules that need the whole file (process group references, check ports) live
 * in ./cross-checks.ts.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { NAME_PATTERN } from '../core/ids.js';
import { RESTART_POLICIES } from '../core/types.js';
import {
  AUTO_STOP_MODES,
  DEPLOY_STRATEGIES,
  KILL_SIGNALS,
  type AppConfig,
  type AutoStopMode,
  type Concurrency,
  type HttpCheck,
  type NamedCheck,
  type ProcessCommand,
  type ServiceDef,
  type TcpCheck,
  type VmSpec,
} from './types.js';

/** Marks the custom issue raised for a key no schema knows; ./diagnostics.ts turns it into "did you mean". */
export const UNKNOWN_KEY = 'hangar_unknown_key';

/** A named check before ./cross-checks.ts fills in the port from `[http_service]`. */
export type ParsedNamedCheck = OmitEach<NamedCheck, 'port'> & { port?: number };
/** Omit applied to each member of a union; plain Omit would merge the members into one. */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type ParsedConfig = Omit<AppConfig, 'checks'> & { checks: Record<string, ParsedNamedCheck> };

/**
 * An object schema whose unknown keys are reported one issue per key (so each gets its own path),
 * carrying the known keys for suggestions. zod's strict mode would report them all on the parent.
 */
function table<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  const unknownKey = z.unknown().check((ctx) => {
    ctx.issues.push({ code: 'custom', message: 'unknown key', params: { [UNKNOWN_KEY]: known }, input: ctx.value });
  });
  return z.object(shape).catchall(unknownKey);
}

/**
 * A value that TOML can spell several ways (a duration as "5s" or 5, a boolean for an enum). One
 * custom issue with a message naming what is accepted beats zod's generic union failure.
 */
function convert<T>(expected: string, fn: (v: unknown) => T | undefined) {
  return z.unknown().transform((v, ctx): T => {
    const out = v === undefined ? undefined : fn(v);
    if (out !== undefined) return out;
    ctx.issues.push({ code: 'custom', message: v === undefined ? 'is required' : `expected ${expected}`, input: v });
    return z.NEVER;
  });
}

/** Milliseconds. Bare numbers are seconds, as fly.toml reads `kill_timeout = 5`. */
const duration = convert(
  'a duration such as "500ms", "5s", "2m", "1h30m", or a number of seconds',
  parseDuration,
);

/** fly turns TOML numbers and booleans in `[env]` into strings rather than rejecting them. */
const scalarString = convert('a string, number or boolean', (v) => {
  const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  return ok ? String(v) : undefined;
});
const stringMap = z.record(z.string(), scalarString);

const nonEmpty = z.string().min(1);
const port = z.number().int().min(1).max(65535);
const positiveInt = z.number().int().min(1);
const groupList = z.array(nonEmpty).min(1);

const PROCESS_NAME = /^[a-z][a-z0-9_-]*$/;
const processName = z.string().regex(PROCESS_NAME, {
  error: 'process group names start with a lowercase letter and contain only a-z, 0-9, "_" and "-"',
});

const command = convert<ProcessCommand>('a non-empty command string or a non-empty array of strings', (v) => {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  const ok = Array.isArray(v) && v.length > 0 && v.every((a) => typeof a === 'string') && v[0].trim() !== '';
  return ok ? (v as string[]) : undefined;
});

/** fly accepts booleans from before "suspend" existed: true meant stop, false meant off. */
const autoStop = convert<AutoStopMode>('"off", "stop", "suspend", true or false', (v) => {
  if (v === true) return 'stop';
  if (v === false) return 'off';
  return AUTO_STOP_MODES.find((m) => m === v);
});

const MEMORY = /^(\d+)\s*(mb|gb)?$/i;
/** Megabytes, from 512, "512", "512mb" or "1gb". */
const memory = convert('a size such as 512, "512mb" or "1gb"', (v) => {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? v : undefined;
  const m = typeof v === 'string' ? MEMORY.exec(v.trim()) : null;
  if (!m || Number(m[1]) === 0) return undefined;
  return Number(m[1]) * (m[2]?.toLowerCase() === 'gb' ? 1024 : 1);
});

const concurrency = table({
  type: z.enum(['requests', 'connections']).default('connections'),
  soft_limit: positiveInt.optional(),
  hard_limit: positiveInt.optional(),
})
  .superRefine((c, ctx) => {
    if (c.soft_limit === undefined || c.hard_limit === undefined || c.soft_limit <= c.hard_limit) return;
    const message = `must not exceed hard_limit (${c.hard_limit})`;
    ctx.addIssue({ code: 'custom', message, path: ['soft_limit'], input: c.soft_limit });
  })
  .transform((c): Concurrency => ({ type: c.type, softLimit: c.soft_limit, hardLimit: c.hard_limit }));

/*
 * Check timing defaults: interval 15s, timeout 2s, grace_period 1s. fly leaves these to its proxy,
 * which behaves roughly like this; writing them down makes hangar's behaviour predictable.
 */
const timingShape = {
  grace_period: duration.default(1_000),
  interval: duration.default(15_000),
  timeout: duration.default(2_000),
};

const httpCheckShape = {
  ...timingShape,
  method: z
    .string()
    .regex(/^[A-Za-z]+$/, { error: 'expected an HTTP method such as "GET"' })
    .transform((m) => m.toUpperCase())
    .default('GET'),
  path: z.string().startsWith('/', { error: 'must start with "/"' }).default('/'),
  protocol: z.enum(['http', 'https']).default('http'),
  headers: stringMap.default({}),
  tls_skip_verify: z.boolean().default(false),
};

type TimingIn = { grace_period: number; interval: number; timeout: number };
type HttpCheckIn = TimingIn & {
  method: string;
  path: string;
  protocol: 'http' | 'https';
  headers: Record<string, string>;
  tls_skip_verify: boolean;
  port?: number;
};

const toTcpCheck = (c: TimingIn & { port?: number }): TcpCheck => ({
  intervalMs: c.interval,
  timeoutMs: c.timeout,
  gracePeriodMs: c.grace_period,
  port: c.port,
});

const toHttpCheck = (c: HttpCheckIn): HttpCheck => ({
  ...toTcpCheck(c),
  method: c.method,
  path: c.path,
  protocol: c.protocol,
  headers: c.headers,
  tlsSkipVerify: c.tls_skip_verify,
});

const httpCheck = table(httpCheckShape).transform(toHttpCheck);
const serviceHttpCheck = table({ ...httpCheckShape, port: port.optional() }).transform(toHttpCheck);
const tcpCheck = table({ ...timingShape, port: port.optional() }).transform(toTcpCheck);

const namedCheck = z
  .discriminatedUnion('type', [
    table({ type: z.literal('http'), port: port.optional(), processes: groupList.optional(), ...httpCheckShape }),
    table({ type: z.literal('tcp'), port: port.optional(), processes: groupList.optional(), ...timingShape }),
  ])
  .transform((c): ParsedNamedCheck => {
    const base = { port: c.port, processes: c.processes };
    if (c.type === 'http') return { type: 'http', ...toHttpCheck(c), ...base };
    return { type: 'tcp', ...toTcpCheck(c), ...base };
  });

const serviceCommonShape = {
  auto_stop_machines: autoStop.default('off'),
  auto_start_machines: z.boolean().default(true),
  min_machines_running: z.number().int().min(0).default(0),
  processes: groupList.optional(),
  concurrency: concurrency.optional(),
};

type ServiceCommonIn = {
  internal_port: number;
  auto_stop_machines: AutoStopMode;
  auto_start_machines: boolean;
  min_machines_running: number;
  processes?: string[];
  concurrency?: Concurrency;
};

const toServiceCommon = (s: ServiceCommonIn) => ({
  internalPort: s.internal_port,
  autoStopMachines: s.auto_stop_machines,
  autoStartMachines: s.auto_start_machines,
  minMachinesRunning: s.min_machines_running,
  processes: s.processes,
  concurrency: s.concurrency,
});

const httpService = table({
  ...serviceCommonShape,
  internal_port: port.default(8080),
  force_https: z.boolean().default(false),
  checks: z.array(httpCheck).default([]),
  hold_timeout: duration.optional(),
  idle_timeout: duration.optional(),
  hostnames: z.array(nonEmpty).optional(),
}).transform((s) => ({
  ...toServiceCommon(s),
  forceHttps: s.force_https,
  checks: s.checks,
  holdTimeoutMs: s.hold_timeout,
  idleTimeoutMs: s.idle_timeout,
  hostnames: s.hostnames,
}));

const servicePort = table({
  port,
  handlers: z.array(nonEmpty).default([]),
  force_https: z.boolean().default(false),
}).transform((p) => ({ port: p.port, handlers: p.handlers, forceHttps: p.force_https }));

const service = table({
  ...serviceCommonShape,
  internal_port: port,
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  ports: z.array(servicePort).default([]),
  http_checks: z.array(serviceHttpCheck).default([]),
  tcp_checks: z.array(tcpCheck).default([]),
}).transform(
  (s): ServiceDef => ({
    ...toServiceCommon(s),
    protocol: s.protocol,
    ports: s.ports,
    httpChecks: s.http_checks,
    tcpChecks: s.tcp_checks,
  }),
);

const build = table({
  command: nonEmpty.optional(),
  registry: z
    .string()
    .regex(/^(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|[a-zA-Z0-9.-]+:\d{1,5})(?:\/[a-z0-9._-]+)*$/, { error: 'expected a registry host, optionally with a port and a namespace, e.g. "ghcr.io/myorg" or "127.0.0.1:5000"' })
    .optional(),
  image: nonEmpty.optional(),
  dockerfile: nonEmpty.optional(),
  ignorefile: nonEmpty.optional(),
  'build-target': nonEmpty.optional(),
  args: stringMap.default({}),
}).transform((b) => ({
  command: b.command,
  registry: b.registry,
  image: b.image,
  dockerfile: b.dockerfile,
  ignorefile: b.ignorefile,
  buildTarget: b['build-target'],
  args: b.args,
}));

/** A canary step: a traffic percentage (1–100) or "pause" (wait for `hangar deployments promote`). */
const canaryStep = z.union([z.number().int().min(1, 'a step is a percentage from 1 to 100').max(100, 'a step is a percentage from 1 to 100'), z.literal('pause')]);

const canary = table({
  count: z.number().int().min(1).default(1),
  steps: z
    .array(canaryStep)
    .min(1)
    .default([5, 25, 50])
    .superRefine((steps, ctx) => {
      let prev = 0;
      steps.forEach((st, i) => {
        if (st === 'pause') return;
        if (st <= prev) ctx.addIssue({ code: 'custom', message: `steps must increase (${st} after ${prev})`, path: [i], input: st });
        prev = st;
      });
    }),
  step_interval: duration.default(30_000),
  max_error_rate: z.number().min(0, 'a fraction from 0 to 1').max(1, 'a fraction from 0 to 1').default(0.05),
  max_latency_ratio: z.number().min(1, 'a ratio of at least 1').default(2),
  latency_floor: duration.default(50),
  min_requests: z.number().int().min(1).default(20),
}).transform((c) => ({
  count: c.count,
  steps: c.steps,
  stepIntervalMs: c.step_interval,
  maxErrorRate: c.max_error_rate,
  maxLatencyRatio: c.max_latency_ratio,
  latencyFloorMs: c.latency_floor,
  minRequests: c.min_requests,
}));

const bluegreen = table({
  auto_promote: z.boolean().default(true),
}).transform((b) => ({ autoPromote: b.auto_promote }));

const NOTIFY_EVENTS = ['started', 'completed', 'failed', 'rolled_back'] as const;

const notify = table({
  url: z.string().refine((u) => /^https?:\/\/[^\s]+$/.test(u), 'must be an http(s) URL'),
  events: z.array(z.enum(NOTIFY_EVENTS)).min(1).default([...NOTIFY_EVENTS]),
});

const deploy = table({
  strategy: z.enum(DEPLOY_STRATEGIES).default('rolling'),
  notify: z.array(notify).default([]),
  canary: canary.prefault({}),
  bluegreen: bluegreen.prefault({}),
  max_unavailable: z.number().positive().default(0.33),
  wait_timeout: duration.default(5 * 60_000),
  release_command: nonEmpty.optional(),
  release_command_timeout: duration.default(5 * 60_000),
  max_machine_age: duration.optional(),
}).transform((d) => ({
  strategy: d.strategy,
  maxUnavailable: d.max_unavailable,
  waitTimeoutMs: d.wait_timeout,
  releaseCommand: d.release_command,
  releaseCommandTimeoutMs: d.release_command_timeout,
  maxMachineAgeMs: d.max_machine_age,
  canary: d.canary,
  bluegreen: d.bluegreen,
  notify: d.notify,
}));

const restart = table({
  policy: z.enum(RESTART_POLICIES).default('on-failure'),
  retries: z.number().int().min(0).optional(),
  processes: groupList.optional(),
}).transform((r) => ({ policy: r.policy, retries: r.retries, processes: r.processes }));

const vm = table({
  size: nonEmpty.optional(),
  memory: memory.optional(),
  memory_mb: positiveInt.optional(),
  cpus: positiveInt.optional(),
  cpu_kind: nonEmpty.optional(),
  processes: groupList.optional(),
})
  .superRefine((v, ctx) => {
    if (v.memory === undefined || v.memory_mb === undefined) return;
    const message = 'set either memory or memory_mb, not both';
    ctx.addIssue({ code: 'custom', message, path: ['memory_mb'], input: v.memory_mb });
  })
  .transform(
    (v): VmSpec => ({
      size: v.size,
      memoryMb: v.memory ?? v.memory_mb,
      cpus: v.cpus,
      cpuKind: v.cpu_kind,
      processes: v.processes,
    }),
  );

/** The whole file, after ./ignored-keys.ts has removed the keys hangar deliberately ignores. */
export const configSchema = table({
  app: z.string().regex(NAME_PATTERN, {
    error: 'app names start with a lowercase letter and contain only a-z, 0-9 and "-" (at most 63 characters)',
  }),
  primary_region: nonEmpty.default('local'),
  kill_signal: z.enum(KILL_SIGNALS).default('SIGINT'),
  kill_timeout: duration.default(5_000),
  build: build.prefault({}),
  env: stringMap.default({}),
  processes: z.record(processName, command).default({}),
  deploy: deploy.prefault({}),
  http_service: httpService.optional(),
  services: z.array(service).default([]),
  checks: z.record(z.string(), namedCheck).default({}),
  restart: z.array(restart).default([]),
  vm: z.array(vm).default([]),
  docker: table({ network: z.enum(['host', 'published']).default('host') }).prefault({}),
}).transform(
  (c): ParsedConfig => ({
    app: c.app,
    primaryRegion: c.primary_region,
    killSignal: c.kill_signal,
    killTimeoutMs: c.kill_timeout,
    build: c.build,
    env: c.env,
    processes: c.processes,
    deploy: c.deploy,
    httpService: c.http_service,
    services: c.services,
    checks: c.checks,
    restart: c.restart,
    vm: c.vm,
    docker: c.docker,
  }),
);
