/**
 * zod schema for hangar.toml / fly.toml as a whole. Each table schema validates the file's snake_case
 * keys and transforms into the camelCase types of ./types.ts, so the schemas are the one place that
 * knows both spellings. The network-facing tables live in ./schema-services.ts; cross-field rules that
 * need the whole file (process group references, check ports) in ./cross-checks.ts.
 */
import { z } from 'zod';
import { isRegistryPrefix } from '../core/image-ref.js';
import { NAME_PATTERN } from '../core/ids.js';
import { RESTART_POLICIES, type RestartPolicy } from '../core/types.js';
import { spellingVariant } from './diagnostics.js';
import { argv, convert, duration, groupList, nonEmpty, positiveInt, stringMap, table } from './schema-parts.js';
import { httpService, namedCheck, service, type ParsedNamedCheck } from './schema-services.js';
import { DEPLOY_STRATEGIES, KILL_SIGNALS, type AppConfig, type ExperimentalConfig, type ProcessCommand, type ServiceDef, type VmSpec } from './types.js';
import { parseMemoryMb, VM_PRESETS } from './vm-sizes.js';

export { UNKNOWN_KEY } from './schema-parts.js';
export type { ParsedNamedCheck } from './schema-services.js';

export type ParsedConfig = Omit<AppConfig, 'checks'> & { checks: Record<string, ParsedNamedCheck> };

const PROCESS_NAME = /^[a-z][a-z0-9_-]*$/;
const processName = z.string().regex(PROCESS_NAME, {
  error: 'process group names start with a lowercase letter and contain only a-z, 0-9, "_" and "-"',
});

/** An empty string is allowed, as flyctl allows it: the group runs `[experimental] cmd` or the image's own command. */
const command = convert<ProcessCommand>('a command string (empty for the image\'s own command) or a non-empty array of strings', (v) => {
  if (typeof v === 'string') return v.trim() === '' ? '' : v;
  const ok = Array.isArray(v) && v.length > 0 && v.every((a) => typeof a === 'string') && v[0].trim() !== '';
  return ok ? (v as string[]) : undefined;
});

/** Megabytes, as flyctl reads `memory`: 1024, "1024", "512mb", "1g", "1GiB". */
const memory = convert('a size such as 512, "512mb", "1gb" or "1GiB"', parseMemoryMb);

const build = table({
  command: nonEmpty.optional(),
  registry: z
    .string()
    .refine(isRegistryPrefix, { error: 'expected a registry host, optionally with a port and a namespace, e.g. "ghcr.io/myorg" or "127.0.0.1:5000"' })
    .optional(),
  image: nonEmpty.optional(),
  dockerfile: nonEmpty.optional(),
  ignorefile: nonEmpty.optional(),
  /** ./fly-forms.ts folds Fly's other spelling, `build_target`, into this one. */
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

/** Fly spells the policy that never restarts "never"; a machine's restart policy calls it "no". */
const restartPolicy = z
  .enum([...RESTART_POLICIES, 'never'] as const)
  .default('on-failure')
  .transform((p): RestartPolicy => (p === 'never' ? 'no' : p));

const restart = table({
  policy: restartPolicy,
  retries: z.number().int().min(0).optional(),
  processes: groupList.optional(),
}).transform((r) => ({ policy: r.policy, retries: r.retries, processes: r.processes }));

const SIZE_NAMES = Object.keys(VM_PRESETS);
const vmSize = z.string().superRefine((size, ctx) => {
  if (size in VM_PRESETS) return;
  const guess = spellingVariant(size, SIZE_NAMES);
  const hint = guess ? `did you mean "${guess}"?` : 'e.g. "shared-cpu-1x", "shared-cpu-2x", "performance-1x"';
  ctx.addIssue({ code: 'custom', message: `is not one of Fly's machine sizes (${hint})`, input: size });
});

/** memory_mb wins over memory, and both over the size preset, as flyctl merges them. */
const vm = table({
  size: vmSize.optional(),
  memory: memory.optional(),
  memory_mb: positiveInt.optional(),
  cpus: positiveInt.optional(),
  cpu_kind: nonEmpty.optional(),
  processes: groupList.optional(),
}).transform((v): VmSpec => {
  const preset = v.size === undefined ? undefined : VM_PRESETS[v.size];
  return {
    size: v.size,
    memoryMb: v.memory_mb ?? v.memory ?? preset?.memoryMb,
    cpus: v.cpus ?? preset?.cpus,
    cpuKind: v.cpu_kind ?? preset?.cpuKind,
    processes: v.processes,
  };
});

/** Only the keys hangar acts on; ./ignored-keys.ts has removed (and warned about) the rest. */
const experimental = table({ cmd: argv.optional(), entrypoint: argv.optional() }).transform(
  (e): ExperimentalConfig | undefined =>
    e.cmd || e.entrypoint ? { ...(e.cmd ? { cmd: e.cmd } : {}), ...(e.entrypoint ? { entrypoint: e.entrypoint } : {}) } : undefined,
);

/**
 * The whole file, after ./fly-forms.ts and ./durations.ts normalised Fly's alternative spellings and
 * ./ignored-keys.ts removed the keys hangar deliberately ignores. `app` may be absent here: ./app-name.ts
 * has already reported a missing name, or filled it in from `-a`.
 */
export const configSchema = table({
  app: z
    .string()
    .regex(NAME_PATTERN, {
      error: 'app names start with a lowercase letter and contain only a-z, 0-9 and "-" (at most 63 characters)',
    })
    .optional(),
  primary_region: nonEmpty.default('local'),
  kill_signal: z.enum(KILL_SIGNALS).default('SIGINT'),
  kill_timeout: duration.default(5_000),
  build: build.prefault({}),
  env: stringMap.default({}),
  processes: z.record(processName, command).default({}),
  deploy: deploy.prefault({}),
  http_service: httpService.optional(),
  services: z.array(service).default([]).transform((list) => list.filter((s): s is ServiceDef => s !== undefined)),
  checks: z.record(z.string(), namedCheck).default({}),
  restart: z.array(restart).default([]),
  vm: z.array(vm).default([]),
  docker: table({ network: z.enum(['host', 'published']).default('host') }).prefault({}),
  experimental: experimental.optional(),
}).transform(
  (c): ParsedConfig => ({
    app: c.app ?? '',
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
    experimental: c.experimental,
  }),
);
