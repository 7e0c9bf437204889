import { z } from 'zod';
import { LOG_SOURCES } from '../core/log-line.js';
import { MACHINE_SIGNALS } from '../core/signals.js';
import { MACHINE_STATES, RESTART_POLICIES } from '../core/types.js';
import { appName, csvOf, deploymentId, duration, imageRefParam, machineId, queryBool, queryDuration, queryInt } from './contract-parts.js';

/**
 * Request and response shapes of hangar's REST API, shared by the daemon (validation, OpenAPI) and the
 * CLI (types). Field names follow Fly's Machines API.
 */

const durationOpt = duration();

const headerSchema = z.object({ name: z.string().min(1), values: z.array(z.string()) });
const port = z.number().int().min(1).max(65535);
const signal = z.enum(MACHINE_SIGNALS);

export const CheckConfigSchema = z.object({
  type: z.enum(['http', 'tcp']),
  port: port.optional(),
  interval: duration(1).optional(),
  timeout: duration(1).optional(),
  grace_period: durationOpt.optional(),
  method: z.string().optional(),
  path: z.string().startsWith('/').optional(),
  protocol: z.enum(['http', 'https']).optional(),
  headers: z.array(headerSchema).optional(),
});

export const ServiceSchema = z.object({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  internal_port: port,
  ports: z.array(z.object({ port: port.optional(), handlers: z.array(z.string()).optional(), force_https: z.boolean().optional(), http_options: z.object({ h2_backend: z.boolean().optional() }).strict().optional() })).default([]),
  concurrency: z
    .object({ type: z.enum(['requests', 'connections']), soft_limit: z.number().int().positive().optional(), hard_limit: z.number().int().positive().optional() })
    .optional(),
  checks: z.array(CheckConfigSchema).default([]),
  autostop: z.enum(['off', 'stop', 'suspend']).optional(),
  autostart: z.boolean().optional(),
  min_machines_running: z.number().int().min(0).optional(),
});

/** What reaches a process's argv or environment: no runtime can pass a NUL byte there. */
const processText = z.string().regex(/^[^\u0000]*$/, 'must not contain a NUL byte');

export const MachineConfigSchema = z.object({
  image: z.string().min(1),
  env: z.record(z.string().min(1).regex(/^[^\u0000=]*$/, 'must not contain "=" or a NUL byte'), processText).default({}),
  init: z.object({ cmd: z.array(processText).min(1).optional() }).default({}),
  services: z.array(ServiceSchema).default([]),
  checks: z.record(z.string(), CheckConfigSchema).default({}),
  restart: z.object({ policy: z.enum(RESTART_POLICIES), max_retries: z.number().int().min(0).optional() }).default({ policy: 'on-failure' }),
  stop_config: z.object({ signal: signal.default('SIGINT'), timeout: durationOpt.default('5s') }).default({ signal: 'SIGINT', timeout: '5s' }),
  metadata: z.record(z.string(), z.string()).default({}),
  guest: z
    .object({ cpu_kind: z.string().optional(), cpus: z.number().int().min(1).max(1024).optional(), memory_mb: z.number().positive().max(16 * 1024 * 1024).optional() })
    .optional(),
  network: z.enum(['host', 'published']).optional(),
});

export const AppParams = z.object({ app: appName });
export const MachineParams = z.object({ app: appName, id: machineId });

export const CreateAppBody = z.object({
  app_name: appName,
  org_slug: z.string().max(100).optional(),
});

const region = z.string().regex(/^[a-z0-9-]{1,32}$/, 'a region: up to 32 lowercase letters, digits and dashes');

export const CreateMachineBody = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'machine names use lowercase letters, digits and dashes (up to 63)').optional(),
  region: region.optional(),
  /** A host name or id to place the machine on (in a cluster). */
  host: z.string().min(1).max(63).regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a host name or id').optional().describe('a host (name or id) the machine must go to; default: placed on a ready host of the region'),
  config: MachineConfigSchema,
  skip_launch: z.boolean().optional(),
});

export const UpdateMachineBody = z.object({
  region: region.optional(),
  config: MachineConfigSchema,
  skip_launch: z.boolean().optional(),
});

/** Optional: a stop without a body uses the machine's stop_config. */
export const StopBody = z.object({ signal: signal.optional(), timeout: durationOpt.optional() }).default({});

export const ListMachinesQuery = z
  .object({
    include_deleted: queryBool.optional(),
    region: z.string().max(32).optional(),
    state: csvOf(MACHINE_STATES, 'states').optional(),
  })
  .strict();

export const WaitQuery = z
  .object({
    state: z.enum(MACHINE_STATES).default('started'),
    /** Seconds; past it the answer is a 408. */
    timeout: queryInt(1, 3600).default(60),
    instance_id: z.string().max(64).optional(),
  })
  .strict();

export const DestroyQuery = z.object({ force: queryBool.optional() }).strict();

export const LeaseBody = z.object({ ttl: z.number().int().min(1).max(3600).default(30), description: z.string().max(200).optional() }).default({ ttl: 30 });

export const LogsQuery = z
  .object({
    follow: queryBool.optional(),
    /** A machine id or name. */
    machine: z.string().min(1).max(63).optional(),
    region: z.string().max(32).optional(),
    /** Comma-separated sources (`runner,health`); all of them when absent. */
    source: csvOf(LOG_SOURCES, 'sources').optional(),
    limit: queryInt(0, 100_000).default(100),
  })
  .strict();

export const ImageTag = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'a tag: up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"');
export const ImageUploadQuery = z.object({ tag: ImageTag }).strict();
export const ImageParams = z.object({ app: appName, tag: imageRefParam });

const machineIdList = z.array(machineId);

/** PATCH body for an app's routing: keys given replace what is stored, `null` clears one. */
export const RoutingPatch = z
  .object({
    hostnames: z.array(z.string().max(253).regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'a hostname')).nullable(),
    hold_timeout: durationOpt.nullable(),
    idle_timeout: durationOpt.nullable(),
    /** Dedicated ports of the proxy for this app; each must be free to bind (see the 409). */
    ports: z.array(port).max(100).nullable(),
    /** Which of `ports` terminate TLS (certificates by SNI, as on the proxy's TLS listener). */
    tls_ports: z.array(port).max(100).nullable(),
    /** Plain HTTP requests get a 301 to the same URL over HTTPS. */
    force_https: z.boolean().nullable(),
    sets: z.array(z.object({ name: z.string().min(1).max(40), machines: machineIdList, weight: z.number().min(0).max(1_000_000) })).nullable(),
    pins: z
      .array(
        z.object({
          set: z.string().min(1),
          header: z.object({ name: z.string().min(1), value: z.string() }).optional(),
          cookie: z.object({ name: z.string().min(1), value: z.string() }).optional(),
        }),
      )
      .nullable(),
  })
  .partial()
  .strict();

/** The proxy keeps ten minutes of request metrics; a window is at least a second. */
export const METRICS_WINDOW_MS = { min: 1000, max: 600_000 } as const;

export const MetricsQuery = z
  .object({
    window: queryDuration(METRICS_WINDOW_MS.min, METRICS_WINDOW_MS.max).default('60s'),
    machines: z.string().regex(/^[0-9a-f]{14}(,[0-9a-f]{14})*$/, 'comma-separated machine ids').optional(),
  })
  .strict();

export const CompareBody = z.object({
  window: duration(METRICS_WINDOW_MS.min, METRICS_WINDOW_MS.max).default('60s'),
  a: machineIdList.min(1),
  b: machineIdList.min(1),
});

const idList = z
  .string()
  .transform((v) => v.split(',').map((x) => x.trim()).filter(Boolean))
  .or(z.array(z.string()));

export const DeployBody = z.object({
  image: z.string().min(1),
  config_text: z.string().max(1_000_000),
  config_path: z.string().default('hangar.toml'),
  strategy: z.enum(['rolling', 'immediate', 'bluegreen', 'canary', 'rotate']).optional(),
  max_unavailable: z.number().positive({ message: 'max_unavailable must be > 0: a count (≥ 1) or a fraction (< 1)' }).max(10_000).optional(),
  wait_timeout: durationOpt.optional(),
  release_command_timeout: durationOpt.optional(),
  skip_release_command: z.boolean().optional(),
  max_failures: z.number().int().min(0).optional(),
  auto_rollback: z.boolean().optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'), z.string()).optional(),
  only_machines: idList.optional(),
  exclude_machines: idList.optional(),
  regions: idList.optional(),
  exclude_regions: idList.optional(),
  process_groups: idList.optional(),
  user: z.string().max(100).optional(),
  description: z.string().max(500).optional(),
  no_cutover: z.boolean().optional(),
  notify: z.string().regex(/^https?:\/\/\S+$/, 'must be an http(s) URL').optional(),
  rotate_deadline: durationOpt.optional(),
  rotate_idle: durationOpt.optional(),
});

export const RollbackBody = z
  .object({ version: z.number().int().positive().optional(), user: z.string().max(100).optional(), strategy: z.enum(['rolling', 'immediate']).optional() })
  .default({});

export const ControlParams = z.object({ id: deploymentId, action: z.enum(['promote', 'abort', 'pause', 'resume']) });
export const RetryBody = z.object({ machine: machineId.optional() }).default({});
export const DeploymentParams = z.object({ id: deploymentId });
export const EventsQuery = z.object({ follow: queryBool.optional(), after: queryInt(0, Number.MAX_SAFE_INTEGER).default(0) }).strict();

/** The header every answer carries its request id in; error bodies repeat it as `request_id`. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** The code of an error the daemon did not expect: a bug in hangar, answered 500. */
export const INTERNAL_ERROR_CODE = 'internal';

export const LEASE_NONCE_HEADERS = ['fly-machine-lease-nonce', 'hangar-lease-nonce'] as const;

/** `POST /v1/apps/{app}/secrets`. Names and values are checked by the daemon (one message per problem). */
export const SecretsBody = z.object({
  set: z.record(z.string(), z.string()).default({}),
  unset: z.array(z.string()).default([]),
  /** Store only: nothing restarts; each machine takes the values at its next start. */
  stage: z.boolean().default(false),
  user: z.string().max(100).optional(),
});

/** The header carrying registry credentials for a push, as the Docker Engine takes them (base64url JSON). */
export const REGISTRY_AUTH_HEADER = 'x-registry-auth';

const hostRef = z.string().min(1).max(63).regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a host name or id');
export const HostParams = z.object({ host: hostRef });
/** Removing a host: refused while its node runs or it has machines, unless forced. */
/** Draining a host; with migrate=true its machines are also moved to the region's other hosts, one at a time. */
export const DrainHostQuery = z.object({ migrate: z.enum(['true', 'false']).optional() }).strict();
export const RemoveHostQuery = z.object({ force: z.enum(['true', 'false']).optional() }).strict();

export * from './contract-views.js';
export type { LogLevel, LogLine, LogSource } from '../core/log-line.js';
