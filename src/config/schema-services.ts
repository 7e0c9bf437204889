/**
 * zod schemas for what faces the network: `[http_service]`, `[[services]]` with their ports and
 * checks, top-level `[checks.<name>]`, and machine checks. Each validates the file's snake_case keys
 * and transforms into the camelCase types of ./types.ts.
 */
import { z } from 'zod';
import { argv, convert, duration, groupList, nonEmpty, port, positiveInt, stringMap, table } from './schema-parts.js';
import {
  AUTO_STOP_MODES,
  KILL_SIGNALS,
  type AutoStopMode,
  type Concurrency,
  type HttpCheck,
  type MachineCheckDef,
  type NamedCheck,
  type ServiceDef,
  type ServicePortDef,
  type TcpCheck,
} from './types.js';

/** A named check before ./cross-checks.ts fills in the port from `[http_service]`. */
export type ParsedNamedCheck = OmitEach<NamedCheck, 'port'> & { port?: number };
/** Omit applied to each member of a union; plain Omit would merge the members into one. */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** fly accepts booleans from before "suspend" existed: true meant stop, false meant off. */
const autoStop = convert<AutoStopMode>('"off", "stop", "suspend", true or false', (v) => {
  if (v === true) return 'stop';
  if (v === false) return 'off';
  return AUTO_STOP_MODES.find((m) => m === v);
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

/** A service's checks have no port: they probe its internal_port (./service-forms.ts drops one). */
const httpCheck = table(httpCheckShape).transform(toHttpCheck);
const tcpCheck = table(timingShape).transform(toTcpCheck);

export const namedCheck = z
  .discriminatedUnion('type', [
    table({ type: z.literal('http'), port: port.optional(), processes: groupList.optional(), ...httpCheckShape }),
    table({ type: z.literal('tcp'), port: port.optional(), processes: groupList.optional(), ...timingShape }),
  ])
  .transform((c): ParsedNamedCheck => {
    const base = { port: c.port, processes: c.processes };
    if (c.type === 'http') return { type: 'http', ...toHttpCheck(c), ...base };
    return { type: 'tcp', ...toTcpCheck(c), ...base };
  });

const machineCheck = table({
  command: argv,
  image: nonEmpty.optional(),
  entrypoint: argv.optional(),
  kill_signal: z.enum(KILL_SIGNALS).optional(),
  kill_timeout: duration.optional(),
}).transform(
  (m): MachineCheckDef => ({
    command: m.command,
    image: m.image,
    entrypoint: m.entrypoint,
    killSignal: m.kill_signal,
    killTimeoutMs: m.kill_timeout,
  }),
);

const serviceCommonShape = {
  auto_stop_machines: autoStop.default('off'),
  auto_start_machines: z.boolean().default(true),
  min_machines_running: z.number().int().min(0).default(0),
  processes: groupList.optional(),
  concurrency: concurrency.optional(),
  machine_checks: z.array(machineCheck).default([]),
};

type ServiceCommonIn = {
  internal_port: number;
  auto_stop_machines: AutoStopMode;
  auto_start_machines: boolean;
  min_machines_running: number;
  processes?: string[];
  concurrency?: Concurrency;
  machine_checks: MachineCheckDef[];
};

const toServiceCommon = (s: ServiceCommonIn) => ({
  internalPort: s.internal_port,
  autoStopMachines: s.auto_stop_machines,
  autoStartMachines: s.auto_start_machines,
  minMachinesRunning: s.min_machines_running,
  processes: s.processes,
  concurrency: s.concurrency,
  machineChecks: s.machine_checks,
});

/** Fly's `http_options`: hangar uses `h2_backend`; its other keys are ignored with a warning (ignored-keys.ts). */
const httpOptions = table({ h2_backend: z.boolean().default(false) });

export const httpService = table({
  ...serviceCommonShape,
  internal_port: port.default(8080),
  force_https: z.boolean().default(false),
  http_options: httpOptions.optional(),
  checks: z.array(httpCheck).default([]),
  hold_timeout: duration.optional(),
  idle_timeout: duration.optional(),
  hostnames: z.array(nonEmpty).optional(),
}).transform((s) => ({
  ...toServiceCommon(s),
  forceHttps: s.force_https,
  h2Backend: s.http_options?.h2_backend ?? false,
  checks: s.checks,
  holdTimeoutMs: s.hold_timeout,
  idleTimeoutMs: s.idle_timeout,
  hostnames: s.hostnames,
}));

/**
 * A port entry. Fly also allows a range (`start_port`..`end_port`); hangar's proxy serves one port per
 * entry, so a range is accepted and left out of routing (./fly-forms.ts warns), and an entry that is
 * only a range serves nothing.
 */
const servicePort = table({
  port: port.optional(),
  start_port: port.optional(),
  end_port: port.optional(),
  handlers: z.array(nonEmpty).default([]),
  force_https: z.boolean().default(false),
  http_options: httpOptions.optional(),
})
  .superRefine((p, ctx) => {
    if (p.port !== undefined || p.start_port !== undefined || p.end_port !== undefined) return;
    ctx.addIssue({ code: 'custom', message: 'is required (or a start_port / end_port range)', path: ['port'], input: undefined });
  })
  .transform((p): ServicePortDef | undefined =>
    p.port === undefined ? undefined : { port: p.port, handlers: p.handlers, forceHttps: p.force_https, h2Backend: p.http_options?.h2_backend ?? false },
  );

/**
 * A `[[services]]` entry. One without `internal_port` routes nowhere; flyctl accepts it (with port 0),
 * so it is accepted and left out: undefined here, dropped by the config schema (./service-forms.ts
 * warns).
 */
export const service = table({
  ...serviceCommonShape,
  internal_port: port.optional(),
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  ports: z.array(servicePort).default([]),
  http_checks: z.array(httpCheck).default([]),
  tcp_checks: z.array(tcpCheck).default([]),
}).transform(({ internal_port, ...s }): ServiceDef | undefined =>
  internal_port === undefined
    ? undefined
    : {
        ...toServiceCommon({ ...s, internal_port }),
        protocol: s.protocol,
        ports: s.ports.filter((p): p is ServicePortDef => p !== undefined),
        httpChecks: s.http_checks,
        tcpChecks: s.tcp_checks,
      },
);
