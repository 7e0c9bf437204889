import type { DeployEvent, Deployment, DeploymentPhase, MachineOutcome } from '../core/deploy.js';
import type { Machine } from '../core/types.js';

/** How a machine is moved to the new release. */
export type UpdateMode = 'surge' | 'now';

/** What a strategy may do; the runner implements it (persistence, leases, health waits live there). */
export interface StrategyContext {
  readonly deployment: Deployment;
  /** Machines still to move to the new release, in a stable order. */
  readonly targets: Machine[];
  /** Updates one machine and records its outcome; never throws (a failure is an outcome). */
  update(m: Machine, mode: UpdateMode): Promise<MachineOutcome>;
  failures(): number;
  emit(e: DeployEvent): Promise<void>;
}

export interface DeployStrategy {
  readonly name: string;
  run(ctx: StrategyContext): Promise<void>;
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
