/**
 * hangar's domain types. Field names follow Fly's Machines API where one exists, so JSON produced from
 * these reads the same to scripts written against Fly.
 */

export const MACHINE_STATES = [
  'created',
  'starting',
  'started',
  'stopping',
  'stopped',
  'replacing',
  'destroying',
  'destroyed',
  'failed',
] as const;
export type MachineState = (typeof MACHINE_STATES)[number];

export const RESTART_POLICIES = ['no', 'on-failure', 'always'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];

export type RuntimeKind = 'process' | 'docker';

export interface ImageRef {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
}

export interface HttpHeader {
  name: string;
  values: string[];
}

/** A health check as stored in a machine's config (Fly's machine-config shape, durations in strings). */
export interface CheckConfig {
  type: 'http' | 'tcp';
  port?: number;
  interval?: string;
  timeout?: string;
  grace_period?: string;
  method?: string;
  path?: string;
  protocol?: 'http' | 'https';
  headers?: HttpHeader[];
}

export interface ServicePort {
  port?: number;
  handlers?: string[];
  force_https?: boolean;
  /** `h2_backend`: the proxy speaks HTTP/2 without TLS (h2c) to the machine. */
  http_options?: { h2_backend?: boolean };
}

export interface ServiceConcurrency {
  type: 'requests' | 'connections';
  soft_limit?: number;
  hard_limit?: number;
}

export interface ServiceConfig {
  protocol: 'tcp' | 'udp';
  internal_port: number;
  ports: ServicePort[];
  concurrency?: ServiceConcurrency;
  checks: CheckConfig[];
  autostop?: 'off' | 'stop' | 'suspend';
  autostart?: boolean;
  min_machines_running?: number;
}

export interface MachineConfig {
  image: string;
  env: Record<string, string>;
  init: { cmd?: string[] };
  services: ServiceConfig[];
  checks: Record<string, CheckConfig>;
  restart: { policy: RestartPolicy; max_retries?: number };
  stop_config: { signal: string; timeout: string };
  metadata: Record<string, string>;
  guest?: { cpu_kind?: string; cpus?: number; memory_mb?: number };
  /** hangar extension, Docker machines only: `published` maps the first service's internal_port (see [docker]). */
  network?: 'host' | 'published';
}

export interface MachineEvent {
  id: number;
  machineId: string;
  type: string;
  status: string;
  source: 'hangar' | 'user';
  timestamp: number;
  exitCode?: number;
  signal?: string;
  message?: string;
}

export interface CheckStatus {
  name: string;
  status: 'passing' | 'warning' | 'critical';
  output: string;
  updatedAt: string;
}

export interface Machine {
  id: string;
  appName: string;
  name: string;
  state: MachineState;
  region: string;
  /** The host whose node runs this machine: every operation on it is carried out there. */
  hostId: string;
  instanceId: string;
  imageRef: ImageRef;
  config: MachineConfig;
  cordoned: boolean;
  runtime: RuntimeKind;
  /** Host port the machine's process listens on (its PORT), null until first assigned. */
  port: number | null;
  restartCount: number;
  startedAt: string | null;
  lastExitCode: number | null;
  createdAt: string;
  updatedAt: string;
}

/** A host's liveness as the cluster sees it: `down` once its node stops heartbeating. */
export type HostState = 'ready' | 'draining' | 'down';

/** One host of the cluster, as its node registered it. */
export interface Host {
  id: string;
  name: string;
  region: string;
  /** The address other nodes reach this host's API and proxy at. */
  address: string;
  apiPort: number;
  proxyPort: number;
  cpus: number;
  memoryMb: number;
  runtimes: RuntimeKind[];
  /** No new machines are placed here. */
  draining: boolean;
  version: string;
  /** Bumped by the host's node on every heartbeat. */
  heartbeat: number;
  /** When the node last heartbeat, by its own clock (ms since the epoch). */
  lastSeenAt: number;
  startedAt: string;
  createdAt: string;
}

export interface App {
  id: string;
  name: string;
  createdAt: string;
  routing: AppRouting;
}

/** A named set of machines that gets `weight` (relative) of the app's traffic while a split is set. */
export interface TrafficSet {
  name: string;
  machines: string[];
  weight: number;
}

/** Requests carrying this header value or cookie always go to `set`, whatever its weight. */
export interface TrafficPin {
  set: string;
  header?: { name: string; value: string };
  cookie?: { name: string; value: string };
}

/** How the proxy serves an app: extra hostnames, the hold window, dedicated ports, traffic split and pins. */
export interface AppRouting {
  hostnames?: string[];
  holdTimeoutMs?: number;
  /** Autostop: a machine with no request for this long is stopped (when its service allows it). */
  idleTimeoutMs?: number;
  ports?: number[];
  /** Which of `ports` terminate TLS (a `[[services.ports]]` with the tls handler). */
  tlsPorts?: number[];
  /** Plain HTTP requests are redirected to HTTPS (301), ACME challenges excepted. */
  forceHttps?: boolean;
  sets?: TrafficSet[];
  pins?: TrafficPin[];
}

export interface Lease {
  machineId: string;
  nonce: string;
  owner: string;
  description: string;
  expiresAt: number;
}

export interface Image {
  appName: string;
  ref: ImageRef;
  /** Full reference, `<registry>/<repository>:<tag>`. */
  fullRef: string;
  /** Which runtime runs it: `process` images live in the daemon's store, `docker` images in the engine. */
  runtime: RuntimeKind;
  /** For `docker` images the size the engine reports; their file count is not known (0). */
  sizeBytes: number;
  fileCount: number;
  createdAt: string;
}

export const DEFAULT_REGISTRY = 'hangar.local';

export function formatImageRef(ref: Pick<ImageRef, 'registry' | 'repository' | 'tag'>): string {
  return `${ref.registry}/${ref.repository}:${ref.tag}`;
}

/** States in which a machine has (or is getting) a live instance in the runtime. */
export function isLiveState(state: MachineState): boolean {
  return state === 'starting' || state === 'started' || state === 'stopping' || state === 'replacing';
}
