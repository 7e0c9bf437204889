import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { LOG_SOURCES } from '../core/log-line.js';
import { MACHINE_STATES, RESTART_POLICIES } from '../core/types.js';

/**
 * Request and response shapes of hangar's REST API, shared by the daemon (validation, OpenAPI) and the
 * CLI (types). Field names follow Fly's Machines API.
 */

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as "5s", "2m" or a number of seconds' })
  .transform((v) => (typeof v === 'number' ? `${v}s` : v));

const headerSchema = z.object({ name: z.string().min(1), values: z.array(z.string()) });

export const CheckConfigSchema = z.object({
  type: z.enum(['http', 'tcp']),
  port: z.number().int().min(1).max(65535).optional(),
  interval: duration.optional(),
  timeout: duration.optional(),
  grace_period: duration.optional(),
  method: z.string().optional(),
  path: z.string().startsWith('/').optional(),
  protocol: z.enum(['http', 'https']).optional(),
  headers: z.array(headerSchema).optional(),
});

export const ServiceSchema = z.object({
  protocol: z.enum(['tcp', 'udp']).default('tcp'),
  internal_port: z.number().int().min(1).max(65535),
  ports: z.array(z.object({ port: z.number().int().min(1).max(65535).optional(), handlers: z.array(z.string()).optional(), force_https: z.boolean().optional() })).default([]),
  concurrency: z
    .object({ type: z.enum(['requests', 'connections']), soft_limit: z.number().int().positive().optional(), hard_limit: z.number().int().positive().optional() })
    .optional(),
  checks: z.array(CheckConfigSchema).default([]),
  autostop: z.enum(['off', 'stop', 'suspend']).optional(),
  autostart: z.boolean().optional(),
  min_machines_running: z.number().int().min(0).optional(),
});

export const MachineConfigSchema = z.object({
  image: z.string().min(1),
  env: z.record(z.string(), z.string()).default({}),
  init: z.object({ cmd: z.array(z.string()).min(1).optional() }).default({}),
  services: z.array(ServiceSchema).default([]),
  checks: z.record(z.string(), CheckConfigSchema).default({}),
  restart: z.object({ policy: z.enum(RESTART_POLICIES), max_retries: z.number().int().min(0).optional() }).default({ policy: 'on-failure' }),
  stop_config: z
    .object({ signal: z.string().regex(/^SIG[A-Z0-9]+$/).default('SIGINT'), timeout: duration.default('5s') })
    .default({ signal: 'SIGINT', timeout: '5s' }),
  metadata: z.record(z.string(), z.string()).default({}),
  guest: z.object({ cpu_kind: z.string().optional(), cpus: z.number().optional(), memory_mb: z.number().optional() }).optional(),
  network: z.enum(['host', 'published']).optional(),
});

export const AppParams = z.object({ app: z.string().min(1) });
export const MachineParams = z.object({ app: z.string().min(1), id: z.string().min(1) });

export const CreateAppBody = z.object({
  app_name: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'app names use lowercase letters, digits and dashes, and start with a letter'),
  org_slug: z.string().optional(),
});

export const CreateMachineBody = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).optional(),
  region: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  config: MachineConfigSchema,
  skip_launch: z.boolean().optional(),
});

export const UpdateMachineBody = z.object({
  region: z.string().regex(/^[a-z0-9-]{1,32}$/).optional(),
  config: MachineConfigSchema,
  skip_launch: z.boolean().optional(),
});

export const StopBody = z
  .object({ signal: z.string().regex(/^SIG[A-Z0-9]+$/).optional(), timeout: duration.optional() })
  .default({});

export const ListMachinesQuery = z.object({
  include_deleted: z.enum(['true', 'false']).optional(),
  region: z.string().optional(),
  state: z
    .string()
    .refine((s) => s.split(',').every((x) => (MACHINE_STATES as readonly string[]).includes(x)), { message: `states are: ${MACHINE_STATES.join(', ')}` })
    .optional(),
});

export const WaitQuery = z.object({
  state: z.enum(MACHINE_STATES).default('started'),
  timeout: z.coerce.number().int().min(1).max(3600).default(60),
  instance_id: z.string().optional(),
});

export const DestroyQuery = z.object({ force: z.enum(['true', 'false']).optional() });

export const LeaseBody = z.object({ ttl: z.number().int().min(1).max(3600).default(30), description: z.string().max(200).optional() }).default({ ttl: 30 });

export const LogsQuery = z.object({
  follow: z.enum(['true', 'false']).optional(),
  machine: z.string().optional(),
  region: z.string().optional(),
  /** Comma-separated sources (`runner,health`); all of them when absent. */
  source: z
    .string()
    .refine((s) => s.split(',').every((x) => (LOG_SOURCES as readonly string[]).includes(x)), { message: `sources are: ${LOG_SOURCES.join(', ')}` })
    .optional(),
  limit: z.coerce.number().int().min(0).max(100_000).default(100),
});

export const ImageUploadQuery = z.object({ tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/) });
export const ImageParams = z.object({ app: z.string().min(1), tag: z.string().min(1) });

const machineIdList = z.array(z.string().regex(/^[0-9a-f]{14}$/, 'a machine id'));

/** PATCH body for an app's routing: keys given replace what is stored, `null` clears one. */
export const RoutingPatch = z
  .object({
    hostnames: z.array(z.string().regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, 'a hostname')).nullable(),
    hold_timeout: duration.nullable(),
    idle_timeout: duration.nullable(),
    ports: z.array(z.number().int().min(1).max(65535)).nullable(),
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

export const MetricsQuery = z.object({
  window: duration.default('60s'),
  machines: z.string().regex(/^[0-9a-f]{14}(,[0-9a-f]{14})*$/, 'comma-separated machine ids').optional(),
});

export const CompareBody = z.object({
  window: duration.default('60s'),
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
  max_unavailable: z.number().positive({ message: 'max_unavailable must be > 0: a count (≥ 1) or a fraction (< 1)' }).optional(),
  wait_timeout: duration.optional(),
  release_command_timeout: duration.optional(),
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
  rotate_deadline: duration.optional(),
  rotate_idle: duration.optional(),
});

export const RollbackBody = z
  .object({ version: z.number().int().positive().optional(), user: z.string().max(100).optional(), strategy: z.enum(['rolling', 'immediate']).optional() })
  .default({});

export const ControlParams = z.object({ id: z.string().min(1), action: z.enum(['promote', 'abort', 'pause', 'resume']) });
export const RetryBody = z.object({ machine: z.string().regex(/^[0-9a-f]{14}$/, 'a machine id').optional() }).default({});
export const DeploymentParams = z.object({ id: z.string().min(1) });
export const EventsQuery = z.object({ follow: z.enum(['true', 'false']).optional(), after: z.coerce.number().int().min(0).default(0) });

export interface DeploymentView {
  id: string;
  app: string;
  release: number;
  status: string;
  phase: string;
  strategy: string;
  machines: Array<{ id: string; group: string; region: string; outcome: string; error?: string }>;
  error: string | null;
  created_at: string;
  updated_at: string;
  /** For a retried deployment: follow its events after this sequence number (earlier ones are the first run's). */
  events_from?: number;
  /** Strategy state: bluegreen's green set and cutover, canary's step, weight and last decision. */
  extra: Record<string, unknown>;
  /** The user paused it (hangar deployments pause); it stays paused across a daemon restart until resumed. */
  paused: boolean;
}

export interface ReleaseView {
  version: number;
  stable: boolean;
  type: 'release';
  status: string;
  description: string;
  user: string;
  image: string;
  strategy: string;
  created_at: string;
}

export interface DeployEventLine {
  seq: number;
  at: string;
  event:
    | { type: 'phase'; phase: string; message: string }
    | { type: 'machine'; machineId: string; outcome: string; message: string }
    | { type: 'log'; source: string; line: string }
    | { type: 'warning'; message: string }
    | { type: 'decision'; step: number; weight: number; verdict: string; reason: string; canary: { requests: number; errorRate: number; p95Ms: number | null }; stable: { requests: number; errorRate: number; p95Ms: number | null } }
    | { type: 'done'; status: string; release: number; message: string; url: string | null };
}

/** The header every answer carries its request id in; error bodies repeat it as `request_id`. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** The code of an error the daemon did not expect: a bug in hangar, answered 500. */
export const INTERNAL_ERROR_CODE = 'internal';

/** Every error answer. `request_id` finds the request's entry in the daemon log. */
export const ErrorBody = z.object({
  error: z.string(),
  code: z.string(),
  hint: z.string().optional(),
  details: z.array(z.object({ path: z.string(), message: z.string(), value: z.unknown().optional() })),
  request_id: z.string().optional(),
});

/** The machine as the API returns it (Fly's JSON plus where its port is reachable). */
export interface MachineView {
  id: string;
  name: string;
  state: string;
  region: string;
  instance_id: string;
  private_ip: string;
  image_ref: { registry: string; repository: string; tag: string; digest: string };
  config: z.infer<typeof MachineConfigSchema>;
  checks: Array<{ name: string; status: string; output: string; updated_at: string }>;
  events: Array<{ type: string; status: string; source: string; timestamp: number; request?: { exit_event?: { exit_code?: number; signal?: string } }; message?: string }>;
  created_at: string;
  updated_at: string;
  cordoned: boolean;
  host_status: 'ok';
  runtime: string;
  process_group: string;
  release_version: number | null;
  started_at: string | null;
  restart_count: number;
  /** Requests (and WebSockets) the proxy is serving on this machine right now. */
  inflight: number;
  /** `host:port` where the machine's PORT is reachable on the daemon's host, when it runs. */
  address: string | null;
  port: number | null;
}

export interface AppView {
  id: string;
  name: string;
  status: 'deployed' | 'pending' | 'suspended';
  machine_count: number;
  created_at: string;
  hostname: string;
  url: string | null;
}

export interface ImageView {
  ref: string;
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  runtime: 'process' | 'docker';
  size_bytes: number;
  file_count: number;
  created_at: string;
}

export interface LeaseView {
  nonce: string;
  expires_at: number;
  owner: string;
  description: string;
}

export type { LogLevel, LogLine, LogSource } from '../core/log-line.js';

export interface HealthView {
  ok: true;
  version: string;
  pid: number;
  api: string;
  proxy: string;
}

export const LEASE_NONCE_HEADERS = ['fly-machine-lease-nonce', 'hangar-lease-nonce'] as const;

/** `POST /v1/apps/{app}/secrets`. Names and values are checked by the daemon (one message per problem). */
export const SecretsBody = z.object({
  set: z.record(z.string(), z.string()).default({}),
  unset: z.array(z.string()).default([]),
  /** Store only: nothing restarts; each machine takes the values at its next start. */
  stage: z.boolean().default(false),
  user: z.string().max(100).optional(),
});

/** A secret as the API shows it: never its value. */
export interface SecretView {
  name: string;
  /** A short keyed sha256 of the value: tells values apart, reveals nothing. */
  digest: string;
  created_at: string;
  updated_at: string;
}

export interface SecretsView {
  /** The version of the app's whole set ('' for none); machines record it as `metadata.hangar_secrets_digest`. */
  digest: string;
  secrets: SecretView[];
}

export interface SecretsChangeView extends SecretsView {
  /** deploying: `deployment` rolls it out; staged: next start; no_release: nothing runs yet; unchanged. */
  outcome: 'deploying' | 'staged' | 'no_release' | 'unchanged';
  deployment: DeploymentView | null;
}

/** One line of the NDJSON answer of `POST /v1/apps/{app}/builds`: output while building, then the image or the error. */
export type BuildEvent =
  | { type: 'output'; stream: 'stdout' | 'stderr'; line: string }
  | { type: 'image'; image: ImageView }
  | { type: 'error'; error: z.infer<typeof ErrorBody> };

/** One line of the NDJSON answer of `POST /v1/apps/{app}/images/{tag}/push`: progress, then the pushed ref or the error. */
export type PushEvent =
  | { type: 'output'; stream: 'stdout'; line: string }
  | { type: 'pushed'; ref: string; digest: string }
  | { type: 'error'; error: z.infer<typeof ErrorBody> };

/** The header carrying registry credentials for a push, as the Docker Engine takes them (base64url JSON). */
export const REGISTRY_AUTH_HEADER = 'x-registry-auth';
