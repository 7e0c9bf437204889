import type { AppConfig } from '../config/index.js';
import type { DeployEvent, Deployment, DeploymentPhase, MachineOutcome, ReleaseStatus } from '../core/deploy.js';
import type { Machine, TrafficPin, TrafficSet } from '../core/types.js';
import type { WindowStats } from '../core/window-stats.js';

/** How a machine is moved to the new release. */
export type UpdateMode = 'surge' | 'now';

/** What a user can ask of a running deploy. */
export type Control = 'promote' | 'abort' | 'pause' | 'resume';

/** What a strategy may do; the runner implements it (persistence, leases, health waits live there). */
export interface StrategyContext {
  readonly deployment: Deployment;
  readonly cfg: AppConfig;
  /** Machines still to move to the new release, in a stable order. */
  readonly targets: Machine[];
  /** Updates one machine and records its outcome; never throws (a failure is an outcome). */
  update(m: Machine, mode: UpdateMode): Promise<MachineOutcome>;
  failures(): number;
  emit(e: DeployEvent): Promise<void>;
  phase(phase: DeploymentPhase, message: string): Promise<void>;
  /** A new machine on the new release, started and passing its checks; recorded as `created`. Throws on failure. */
  createMachine(group: string, region: string): Promise<Machine>;
  /** Drains (kill_timeout), stops and destroys a machine; recorded as `destroyed`. */
  destroyMachine(id: string): Promise<void>;
  /** Stores and applies the app's traffic sets and pins (`null` clears). */
  setTraffic(t: { sets: TrafficSet[] | null; pins: TrafficPin[] | null }): Promise<void>;
  /** The proxies' metrics of two machine sets over the last `windowMs`, summed over every node. */
  compare(a: string[], b: string[], windowMs: number): Promise<{ a: WindowStats; b: WindowStats }>;
  /** Waits up to `ms` (forever when omitted) for a user's control; paused deploys wait until resumed. */
  wait(ms?: number): Promise<Control | 'timeout'>;
  /** The machine as stored now. */
  machine(id: string): Promise<Machine>;
  /** Milliseconds since the machine last had a request in flight through the proxy (0 while busy). */
  idleFor(id: string): number;
  /** Persists the strategy's own state (deployment.extra). */
  save(extra: Record<string, unknown>): Promise<void>;
}

export interface DeployStrategy {
  readonly name: string;
  /** Controls the strategy accepts (and when): the API refuses the others with a clear error. */
  readonly controls?: ReadonlyArray<Control>;
  run(ctx: StrategyContext): Promise<void>;
  /**
   * After a daemon restart: whether `run` can pick up from the persisted state (`deployment.extra`).
   * Without it (or when false) a strategy that has `undo` is rolled back instead.
   */
  resumable?(d: Deployment): boolean;
  /**
   * Undo after a failure, by the phase it happened in. Without it the runner rolls updated machines
   * back. Returns the release's final status.
   */
  undo?(ctx: StrategyContext, failure: DeployFailure): Promise<ReleaseStatus>;
}

/** A failure tagged with the phase it happened in; the runner decides what to undo from the phase. */
export class DeployFailure extends Error {
  constructor(
    readonly phase: DeploymentPhase,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
    this.name = 'DeployFailure';
  }
}

export function groupOf(m: Machine): string {
  return m.config.metadata.fly_process_group ?? 'app';
}

/** Machines by process group, keeping the order they came in. */
export function byGroup(machines: Machine[]): Map<string, Machine[]> {
  const out = new Map<string, Machine[]>();
  for (const m of machines) out.set(groupOf(m), [...(out.get(groupOf(m)) ?? []), m]);
  return out;
}
