/**
 * The validated shape of hangar.toml / fly.toml. Field names are camelCase, and every duration has
 * already been converted to milliseconds and carries an `Ms` suffix (`kill_timeout` → `killTimeoutMs`),
 * so callers never re-parse strings. The only snake_case left is inside user-owned maps (`env`,
 * `build.args`, check `headers`) and names the user chose (`processes`, `checks`).
 */
import type { RestartPolicy } from '../core/types.js';

export const KILL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGKILL', 'SIGHUP'] as const;
export type KillSignal = (typeof KILL_SIGNALS)[number];

export const DEPLOY_STRATEGIES = ['rolling', 'immediate', 'bluegreen', 'canary', 'rotate'] as const;
export type DeployStrategyName = (typeof DEPLOY_STRATEGIES)[number];

export const AUTO_STOP_MODES = ['off', 'stop', 'suspend'] as const;
export type AutoStopMode = (typeof AUTO_STOP_MODES)[number];

/** The group every machine belongs to when `[processes]` is absent or empty (as on Fly). */
export const DEFAULT_PROCESS_GROUP = 'app';

/**
 * A `[processes]` entry: a command line (split, or run with `/bin/sh -c` when it uses shell syntax) or
 * an argv array run as is. `''` gives the group no command of its own: it runs `[experimental] cmd`, or
 * the image's own command.
 */
export type ProcessCommand = string | readonly string[];

/** Timing shared by every check kind. */
export interface CheckTiming {
  intervalMs: number;
  timeoutMs: number;
  gracePeriodMs: number;
}

export interface HttpCheck extends CheckTiming {
  method: string;
  path: string;
  protocol: 'http' | 'https';
  headers: Readonly<Record<string, string>>;
  tlsSkipVerify: boolean;
  /** Only a top-level `[checks.<name>]` sets it; a service's checks probe its internal port. */
  port?: number;
}

export interface TcpCheck extends CheckTiming {
  /** Only a top-level `[checks.<name>]` sets it; a service's checks probe its internal port. */
  port?: number;
}

/** A top-level `[checks.<name>]`: gates deploys, never routing. */
export type NamedCheck = (({ type: 'http' } & HttpCheck) | ({ type: 'tcp' } & TcpCheck)) & {
  /** Always set: defaults to `[http_service] internal_port` when the file leaves it out. */
  port: number;
  processes?: readonly string[];
};

export interface Concurrency {
  type: 'requests' | 'connections';
  softLimit?: number;
  hardLimit?: number;
}

/** Fields `[http_service]` and `[[services]]` share. */
export interface ServiceCommon {
  internalPort: number;
  autoStopMachines: AutoStopMode;
  autoStartMachines: boolean;
  minMachinesRunning: number;
  /** Process groups served; absent means every group. */
  processes?: readonly string[];
  concurrency?: Concurrency;
}

/** Fly's machine_checks: a temporary machine from the new image runs `command` against each freshly updated machine. */
export interface MachineCheckDef {
  /** A string in the file is split like `[processes]` commands (splitCommand). */
  command: readonly string[];
  /** Default: the release's image. */
  image?: string;
  /** Absent: the image's own entrypoint (as on Fly, where `[experimental] entrypoint` would apply). */
  entrypoint?: readonly string[];
  /**
   * The signal that stops the check machine. Absent means unset in the file; Fly then uses the app's
   * `kill_signal` (default SIGINT) when the check runs the release's image, and the image's own
   * default when `image` is set.
   */
  killSignal?: KillSignal;
  /**
   * How long the stopped check machine gets between its kill signal and SIGKILL (Fly's machine
   * `stop_config.timeout`). Absent: as for `killSignal`, the app's `kill_timeout` (default 5s). It is not
   * the limit on the check's run: flyctl bounds the whole test-machine run (start, then exit) by the
   * deploy's wait timeout (`--wait-timeout` / `[deploy] wait_timeout`), so hangar's runner should do the
   * same with `deploy.waitTimeoutMs` (default 5m).
   */
  killTimeoutMs?: number;
}

export interface HttpService extends ServiceCommon {
  forceHttps: boolean;
  /** `[http_service.http_options] h2_backend`: the proxy speaks h2c to the machines. */
  h2Backend: boolean;
  checks: readonly HttpCheck[];
  /** `[[http_service.machine_checks]]`; always present, [] when the file has none. */
  machineChecks: readonly MachineCheckDef[];
  /** hangar extension: how long the proxy holds a request while no machine is ready. */
  holdTimeoutMs?: number;
  /** hangar extension: with auto_stop_machines, a machine with no request for this long is stopped (default 5m). */
  idleTimeoutMs?: number;
  /** hangar extension: Host names routed to this app. */
  hostnames?: readonly string[];
}

export interface ServicePortDef {
  port: number;
  handlers: readonly string[];
  forceHttps: boolean;
  /** `[services.ports.http_options] h2_backend`: h2c to the machine. */
  h2Backend: boolean;
}

export interface ServiceDef extends ServiceCommon {
  protocol: 'tcp' | 'udp';
  ports: readonly ServicePortDef[];
  httpChecks: readonly HttpCheck[];
  tcpChecks: readonly TcpCheck[];
  /** `[[services.machine_checks]]`; always present, [] when the file has none. */
  machineChecks: readonly MachineCheckDef[];
}

export interface BuildConfig {
  /** hangar extension: a build command run in the app directory. */
  command?: string;
  /** hangar extension: the registry Docker builds are tagged for (`<registry>/<app>:<tag>`) and `--push` pushes to. */
  registry?: string;
  image?: string;
  dockerfile?: string;
  ignorefile?: string;
  buildTarget?: string;
  args: Readonly<Record<string, string>>;
}

export interface DeployConfig {
  /** Default "rolling". */
  strategy: DeployStrategyName;
  /** ≥ 1 is a machine count, < 1 a fraction of the group. Default 0.33, as on Fly. */
  maxUnavailable: number;
  /** Default 5m. */
  waitTimeoutMs: number;
  releaseCommand?: string;
  /** Default 5m. */
  releaseCommandTimeoutMs: number;
  /** hangar extension: replace machines older than this. */
  maxMachineAgeMs?: number;
  canary: CanaryConfig;
  bluegreen: { autoPromote: boolean };
  /** `[[deploy.notify]]`: webhooks told about deploys. */
  notify: NotifyTarget[];
}

export type NotifyEvent = 'started' | 'completed' | 'failed' | 'rolled_back';

export interface NotifyTarget {
  url: string;
  events: NotifyEvent[];
}

/** `[deploy.canary]`: traffic steps and the thresholds a canary is judged by. */
export interface CanaryConfig {
  /** Canary machines per process group (default 1). */
  count: number;
  /** Percent of the app's requests per step, increasing, or "pause" (default [5, 25, 50]). */
  steps: Array<number | 'pause'>;
  /** Default 30s. */
  stepIntervalMs: number;
  /** Canary error rate (5xx + connection failures) above this aborts (default 0.05). */
  maxErrorRate: number;
  /** Canary p95 / stable p95 above this aborts (default 2)... */
  maxLatencyRatio: number;
  /** ...but only when the canary's p95 is also this much slower (default 50ms): a cold process a few ms slower is not a regression. */
  latencyFloorMs: number;
  /** Requests the canary must have served in a window before it is judged (default 20). */
  minRequests: number;
}

export interface RestartRule {
  /** Default "on-failure". */
  policy: RestartPolicy;
  retries?: number;
  processes?: readonly string[];
}

/**
 * Informational: hangar records it in the machine's `guest`, the process runtime does not enforce it.
 * A Fly size preset (`size = "shared-cpu-2x"`) fills in cpus, cpuKind and memoryMb; `memory`,
 * `memory_mb`, `cpus` and `cpu_kind` in the same table override the preset, as on Fly.
 */
export interface VmSpec {
  size?: string;
  memoryMb?: number;
  cpus?: number;
  cpuKind?: string;
  processes?: readonly string[];
}

/**
 * One app's configuration, deeply frozen. Defaults are filled in (documented per field), so a
 * missing optional field really means "not configured".
 */
export interface AppConfig {
  app: string;
  /** Default "local". */
  primaryRegion: string;
  /** Default "SIGINT", as on Fly. */
  killSignal: KillSignal;
  /** Default 5s. */
  killTimeoutMs: number;
  build: BuildConfig;
  env: Readonly<Record<string, string>>;
  /** Empty when the file has no `[processes]`: the one implicit group is then "app". */
  processes: Readonly<Record<string, ProcessCommand>>;
  deploy: DeployConfig;
  httpService?: HttpService;
  services: readonly ServiceDef[];
  checks: Readonly<Record<string, NamedCheck>>;
  restart: readonly RestartRule[];
  vm: readonly VmSpec[];
  docker: DockerConfig;
  /**
   * `[experimental] cmd` / `entrypoint` (Fly's older way to set the command): used for a group that
   * has no `[processes]` entry, entrypoint first. Absent when the file sets neither (and in releases
   * stored before hangar read these keys).
   */
  experimental?: ExperimentalConfig;
}

export interface ExperimentalConfig {
  cmd?: readonly string[];
  entrypoint?: readonly string[];
}

/** Options for reading a config. */
export interface LoadOptions {
  /**
   * The app name from `-a` / `FLY_APP` / `HANGAR_APP` (or the app a daemon request is for). It wins
   * over the file's `app`, and stands in when the file has no `app` or only a placeholder.
   */
  app?: string;
}

/** hangar extension: how Docker machines are networked (see the README's Docker section). */
export interface DockerConfig {
  /**
   * `host` (default): the container shares the host's network and listens on the PORT hangar assigns.
   * `published`: the container gets its own network namespace and its `internal_port` is published on
   * a port hangar assigns on 127.0.0.1 (for images that listen on a fixed port, like nginx on 80).
   */
  network: 'host' | 'published';
}

/** Something in the file hangar accepted but will not act on. */
export interface ConfigWarning {
  path: string;
  message: string;
}

export interface LoadedConfig {
  config: AppConfig;
  warnings: ConfigWarning[];
  /** Absolute path of the file read. */
  path: string;
  /** Its directory: the build context. */
  dir: string;
}

/** The process groups an app runs, in file order; ["app"] when `[processes]` is empty. */
export function processGroups(cfg: Pick<AppConfig, 'processes'>): string[] {
  const names = Object.keys(cfg.processes);
  return names.length > 0 ? names : [DEFAULT_PROCESS_GROUP];
}
