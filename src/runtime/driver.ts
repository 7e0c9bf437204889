import type { RuntimeKind } from '../core/types.js';

/**
 * The seam between hangar's machine lifecycle and whatever actually runs a machine (a process group on
 * this host, a Docker container). Drivers know nothing about apps, state or restart policy: they start
 * instances of machines, stop them, report when they exit, and find live instances again after the
 * daemon restarts. A machine may have two live instances for a moment (a rolling update starts the
 * new one next to the old), so everything is keyed by `InstanceRef`. Every implementation must pass test/runtime-contract.ts.
 */
export interface RuntimeDriver {
  readonly kind: RuntimeKind;

  /** Starts an instance; resolves once it is running. Fails if that instance id is already live. */
  start(spec: InstanceSpec): Promise<void>;

  /**
   * Sends `signal`, waits up to `timeoutMs`, then kills. Resolves when nothing of the instance is left,
   * with its exit (undefined when there was no live instance).
   */
  stop(ref: InstanceRef, opts: StopOptions): Promise<InstanceExit | undefined>;

  /** What the runtime knows about the instance right now. */
  status(ref: InstanceRef): Promise<InstanceStatus>;

  /**
   * After a daemon restart: starts following a live instance (so `onExit` fires for it) and returns
   * its status. An instance that died meanwhile is reported as exited, with its exit code if known.
   */
  adopt(ref: InstanceRef): Promise<InstanceStatus>;

  /** Instances that have runtime resources (live or not), to find orphans. */
  list(): Promise<InstanceRef[]>;

  /** Removes the instance's runtime resources. It must not be live. */
  remove(ref: InstanceRef): Promise<void>;

  /** Removes everything the runtime keeps for a machine (its logs included); no instance may be live. */
  removeMachine(machineId: string): Promise<void>;

  /** Files every instance of the machine appends stdout and stderr to; a log collector tails them. */
  logFiles(machineId: string): { stdout: string; stderr: string };

  /** Called once per instance exit that the driver observed (own or adopted instances). */
  onExit(listener: (exit: InstanceExit) => void): () => void;

  /** Stops following instances. Live instances keep running: they are adopted by the next daemon. */
  dispose(): Promise<void>;
}

export interface InstanceRef {
  machineId: string;
  instanceId: string;
}

export interface InstanceSpec extends InstanceRef {
  appName: string;
  /** Image reference and, for the process runtime, the directory the command runs in. */
  image: { ref: string; digest: string; rootfs?: string };
  /** argv; the first element is looked up on PATH. */
  cmd: string[];
  env: Record<string, string>;
  /** The host port the instance is reached on. */
  port: number;
  /**
   * Docker only: the container gets its own network namespace and this container port is published
   * on 127.0.0.1:`port`. Without it the instance shares the host's network and listens on `port`.
   */
  publish?: number;
}

export interface StopOptions {
  signal: NodeJS.Signals;
  timeoutMs: number;
}

export interface InstanceExit extends InstanceRef {
  /** Exit code; for the process runtime, 128+n when the command died of signal n. */
  exitCode: number | null;
  signal: string | null;
  /** True when the exit followed a `stop` call (the lifecycle must not treat it as a crash). */
  requested: boolean;
  at: number;
}

export type InstanceStatus =
  | { state: 'running'; pid?: number; startedAt: number }
  | { state: 'exited'; exitCode: number | null; signal: string | null }
  | { state: 'missing' };
