import { z } from 'zod';
import { LOG_SOURCES, type LogLine } from '../core/log-line.js';
import { MACHINE_STEPS } from '../core/deploy.js';
import type { MachineConfig } from '../core/types.js';

/**
 * What the API answers, as schemas: the daemon serialises every JSON answer through them (so an answer
 * can only carry what is documented) and the OpenAPI document is made from them. The CLI uses the
 * inferred types.
 */

/** Every error answer. `request_id` finds the request's entry in the daemon log. */
export const ErrorBody = z
  .object({
    error: z.string(),
    code: z.string(),
    hint: z.string().optional(),
    details: z.array(z.object({ path: z.string(), message: z.string(), value: z.unknown().optional() })),
    request_id: z.string().optional(),
  })
  .meta({ id: 'ErrorBody', description: 'Every error answer: a message, a stable code, an optional hint, the fields at fault, and the request id the daemon log knows it by' });
export type ErrorBodyView = z.infer<typeof ErrorBody>;

const timestamp = z.string().describe('ISO 8601');
const count = z.number().int().min(0);

const CheckView = z.object({
  type: z.enum(['http', 'tcp']),
  port: z.number().int().optional(),
  interval: z.string().optional(),
  timeout: z.string().optional(),
  grace_period: z.string().optional(),
  method: z.string().optional(),
  path: z.string().optional(),
  protocol: z.enum(['http', 'https']).optional(),
  headers: z.array(z.object({ name: z.string(), values: z.array(z.string()) })).optional(),
});

/** A machine's config as stored (defaults filled in, durations as strings). */
export const MachineConfigView = z.object({
  image: z.string(),
  env: z.record(z.string(), z.string()),
  init: z.object({ cmd: z.array(z.string()).optional() }),
  services: z.array(
    z.object({
      protocol: z.enum(['tcp', 'udp']),
      internal_port: z.number().int(),
      ports: z.array(z.object({ port: z.number().int().optional(), handlers: z.array(z.string()).optional(), force_https: z.boolean().optional(), http_options: z.object({ h2_backend: z.boolean().optional() }).optional() })),
      concurrency: z.object({ type: z.enum(['requests', 'connections']), soft_limit: z.number().int().optional(), hard_limit: z.number().int().optional() }).optional(),
      checks: z.array(CheckView),
      autostop: z.enum(['off', 'stop', 'suspend']).optional(),
      autostart: z.boolean().optional(),
      min_machines_running: z.number().int().optional(),
    }),
  ),
  checks: z.record(z.string(), CheckView),
  restart: z.object({ policy: z.enum(['no', 'on-failure', 'always']), max_retries: z.number().int().optional() }),
  stop_config: z.object({ signal: z.string(), timeout: z.string() }),
  metadata: z.record(z.string(), z.string()),
  guest: z.object({ cpu_kind: z.string().optional(), cpus: z.number().optional(), memory_mb: z.number().optional() }).optional(),
  network: z.enum(['host', 'published']).optional(),
});

const MachineEventView = z.object({
  type: z.string(),
  status: z.string(),
  source: z.string(),
  timestamp: z.number().describe('milliseconds since the epoch'),
  request: z.object({ exit_event: z.object({ exit_code: z.number().int().optional(), signal: z.string().optional() }).optional() }).optional(),
  message: z.string().optional(),
});
export const MachineEventsView = z.array(MachineEventView);

/** The machine as the API returns it (Fly's JSON plus where its port is reachable). */
export const MachineView = z.object({
  id: z.string(),
  name: z.string(),
  state: z.string(),
  region: z.string(),
  instance_id: z.string(),
  private_ip: z.string().describe("the advertised address of the machine's host"),
  host_id: z.string().describe('the host whose node runs the machine'),
  host: z.string().describe("the host's name"),
  image_ref: z.object({ registry: z.string(), repository: z.string(), tag: z.string(), digest: z.string() }),
  config: MachineConfigView,
  checks: z.array(z.object({ name: z.string(), status: z.string(), output: z.string(), updated_at: timestamp })),
  events: z.array(MachineEventView),
  created_at: timestamp,
  updated_at: timestamp,
  cordoned: z.boolean(),
  host_status: z.enum(['ok', 'unreachable']).describe("unreachable while the machine's host is down"),
  runtime: z.string(),
  process_group: z.string(),
  release_version: z.number().int().nullable(),
  started_at: timestamp.nullable(),
  restart_count: count,
  /** Requests (and WebSockets) the proxy is serving on this machine right now. */
  inflight: count.describe('requests (and WebSockets) the proxy is serving on this machine right now'),
  /** `host:port` where the machine's PORT is reachable on the daemon's host, when it runs. */
  address: z.string().nullable().describe("host:port where the machine's PORT is reachable on the daemon's host, while it runs"),
  port: z.number().int().nullable(),
});
export type MachineView = z.infer<typeof MachineView>;
export const MachineListView = z.array(MachineView);

export const HostView = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string(),
  address: z.string().describe('the address other nodes reach this host at'),
  state: z.enum(['ready', 'draining', 'down']),
  machines: count.describe('live machines on the host'),
  cpus: count,
  memory_mb: count,
  runtimes: z.array(z.enum(['process', 'docker'])),
  api_port: z.number().int(),
  proxy_port: z.number().int(),
  version: z.string(),
  last_seen: timestamp.describe('when the answering node last saw the host heartbeat'),
  started_at: timestamp,
});
export type HostView = z.infer<typeof HostView>;
export const HostListView = z.array(HostView);
export const DrainView = z.object({
  host: HostView,
  migrated: z.array(z.object({ machine: z.string(), replacement: z.string(), host: z.string().describe('where the replacement runs') })).describe('machines moved off the host, in order (empty without migrate=true)'),
});
export type DrainView = z.infer<typeof DrainView>;

export const AppView = z.object({
  id: z.string(),
  name: z.string(),
  status: z.enum(['deployed', 'pending', 'suspended']),
  machine_count: count,
  created_at: timestamp,
  hostname: z.string(),
  url: z.string().nullable(),
});
export type AppView = z.infer<typeof AppView>;
export const AppListView = z.object({ total_apps: count, apps: z.array(AppView) });

export const ImageView = z.object({
  ref: z.string(),
  registry: z.string(),
  repository: z.string(),
  tag: z.string(),
  digest: z.string(),
  runtime: z.enum(['process', 'docker']),
  size_bytes: count,
  file_count: count,
  created_at: timestamp,
});
export type ImageView = z.infer<typeof ImageView>;
export const ImageListView = z.array(ImageView);

export const LeaseView = z.object({ nonce: z.string(), expires_at: z.number().int().describe('seconds since the epoch'), owner: z.string(), description: z.string() });
export type LeaseView = z.infer<typeof LeaseView>;

export const HealthView = z.object({ ok: z.literal(true), version: z.string(), pid: z.number().int(), api: z.string(), proxy: z.string() });
export type HealthView = z.infer<typeof HealthView>;

/** The answer of a change that has nothing else to say. */
export const OkView = z.object({ ok: z.literal(true) });
export const WaitView = z.object({ ok: z.literal(true), state: z.string(), instance_id: z.string() });

export const DeploymentView = z.object({
  id: z.string(),
  app: z.string(),
  release: z.number().int(),
  status: z.string(),
  phase: z.string(),
  strategy: z.string(),
  machines: z.array(z.object({ id: z.string(), group: z.string(), region: z.string(), outcome: z.string(), error: z.string().optional() })),
  error: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
  /** For a retried deployment: follow its events after this sequence number (earlier ones are the first run's). */
  events_from: z.number().int().optional().describe("for a retried deployment: follow its events after this sequence number (earlier ones are the first run's)"),
  /** Strategy state: bluegreen's green set and cutover, canary's step, weight and last decision. */
  extra: z.record(z.string(), z.unknown()),
  /** The user paused it (hangar deployments pause); it stays paused across a daemon restart until resumed. */
  paused: z.boolean(),
});
export type DeploymentView = z.infer<typeof DeploymentView>;
export const DeploymentListView = z.array(DeploymentView);

export const ReleaseView = z.object({
  version: z.number().int(),
  stable: z.boolean(),
  type: z.literal('release'),
  status: z.string(),
  description: z.string(),
  user: z.string(),
  image: z.string(),
  strategy: z.string(),
  created_at: timestamp,
});
export type ReleaseView = z.infer<typeof ReleaseView>;
export const ReleaseListView = z.array(ReleaseView);

const metricsSummary = z.object({ requests: count, errorRate: z.number(), p95Ms: z.number().nullable() });

/** One line of `GET /v1/deployments/{id}/events` (NDJSON). */
export const DeployEventLine = z.object({
  seq: z.number().int(),
  at: timestamp,
  event: z.discriminatedUnion('type', [
    z.object({ type: z.literal('phase'), phase: z.string(), message: z.string() }),
    z.object({ type: z.literal('machine'), machineId: z.string(), outcome: z.string(), message: z.string(), step: z.enum(MACHINE_STEPS).optional().describe('a machine updated in place: started, passing, switched, drained (of its old instance)') }),
    z.object({ type: z.literal('log'), source: z.string(), line: z.string() }),
    z.object({ type: z.literal('warning'), message: z.string() }),
    z.object({ type: z.literal('decision'), step: z.number(), weight: z.number(), verdict: z.string(), reason: z.string(), canary: metricsSummary, stable: metricsSummary }),
    z.object({ type: z.literal('done'), status: z.string(), release: z.number().int(), message: z.string(), url: z.string().nullable() }),
  ]),
});
export type DeployEventLine = z.infer<typeof DeployEventLine>;

/** One line of `GET /v1/apps/{app}/logs` (NDJSON). */
export const LogLineView = z.object({
  timestamp,
  source: z.enum(LOG_SOURCES),
  app: z.string(),
  machine_id: z.string().optional(),
  instance_id: z.string().optional(),
  region: z.string().optional(),
  stream: z.enum(['stdout', 'stderr']).optional(),
  level: z.enum(['info', 'warn', 'error']),
  message: z.string(),
  host: z.string().optional().describe("in a cluster: the host whose node stored the line"),
});

/** A secret as the API shows it: never its value. */
export const SecretView = z.object({
  name: z.string(),
  /** A short keyed sha256 of the value: tells values apart, reveals nothing. */
  digest: z.string().describe('a short keyed sha256 of the value: tells values apart, reveals nothing'),
  created_at: timestamp,
  updated_at: timestamp,
});
export type SecretView = z.infer<typeof SecretView>;

export const SecretsView = z.object({
  /** The version of the app's whole set ('' for none); machines record it as `metadata.hangar_secrets_digest`. */
  digest: z.string(),
  secrets: z.array(SecretView),
});
export type SecretsView = z.infer<typeof SecretsView>;

export const SecretsChangeView = SecretsView.extend({
  /** deploying: `deployment` rolls it out; staged: next start; no_release: nothing runs yet; unchanged. */
  outcome: z.enum(['deploying', 'staged', 'no_release', 'unchanged']),
  deployment: DeploymentView.nullable(),
});
export type SecretsChangeView = z.infer<typeof SecretsChangeView>;

/** One line of the NDJSON answer of `POST /v1/apps/{app}/builds`: output while building, then the image or the error. */
export const BuildEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('output'), stream: z.enum(['stdout', 'stderr']), line: z.string() }),
  z.object({ type: z.literal('image'), image: ImageView }),
  z.object({ type: z.literal('error'), error: ErrorBody }),
]);
export type BuildEvent = z.infer<typeof BuildEvent>;

/** One line of the NDJSON answer of `POST /v1/apps/{app}/images/{tag}/push`: progress, then the pushed ref or the error. */
export const PushEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('output'), stream: z.literal('stdout'), line: z.string() }),
  z.object({ type: z.literal('pushed'), ref: z.string(), digest: z.string() }),
  z.object({ type: z.literal('error'), error: ErrorBody }),
]);
export type PushEvent = z.infer<typeof PushEvent>;

const trafficSet = z.object({ name: z.string(), machines: z.array(z.string()), weight: z.number() });
const trafficPin = z.object({ set: z.string(), header: z.object({ name: z.string(), value: z.string() }).optional(), cookie: z.object({ name: z.string(), value: z.string() }).optional() });

/** The app's routing (`GET`/`PATCH /v1/apps/{app}/routing`). */
export const RoutingView = z.object({
  hostnames: z.array(z.string()),
  hold_timeout_ms: z.number().nullable(),
  idle_timeout_ms: z.number().nullable(),
  ports: z.array(z.number().int()),
  tls_ports: z.array(z.number().int()),
  force_https: z.boolean(),
  /** Dedicated ports the proxy could not open (at daemon start, or since): the app is not served there. */
  ports_failed: z.array(z.object({ port: z.number().int(), error: z.string() })).describe('dedicated ports the proxy could not open (at daemon start, or since): the app is not served there'),
  sets: z.array(trafficSet),
  pins: z.array(trafficPin),
});
export type RoutingView = z.infer<typeof RoutingView>;

const windowStats = {
  requests: count,
  errors: count,
  error_rate: z.number().min(0).max(1),
  p50_ms: z.number().nullable(),
  p95_ms: z.number().nullable(),
  p99_ms: z.number().nullable(),
  by_class: z.object({ '2xx': count, '3xx': count, '4xx': count, '5xx': count, failed: count }),
};
export const MetricsView = z.object({ window_ms: z.number().int(), ...windowStats });
export const CompareView = z.object({ window_ms: z.number().int(), a: z.object(windowStats), b: z.object(windowStats) });

/** Compile-time proof that the views say what core says (a field added on one side fails the build). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameConfig: Same<z.infer<typeof MachineConfigView>, MachineConfig> = true;
const sameLogLine: Same<z.infer<typeof LogLineView>, LogLine> = true;
void sameConfig;
void sameLogLine;
