/**
 * What the health monitor reports. `CheckState` is core's `CheckStatus` (the Fly API shape) plus whether
 * the check gates routing, so one list serves both the proxy (routable?) and deploys (all passing?).
 */
import type { CheckStatus } from '../core/types.js';

export type CheckStatusValue = CheckStatus['status'];

export interface CheckState extends CheckStatus {
  gatesRouting: boolean;
}

/** Emitted whenever any check of one machine instance changes status or output. */
export interface HealthChange {
  machineId: string;
  instanceId: string;
  /** Every check of that instance, in spec order (empty when the machine has no checks). */
  checks: CheckState[];
  /** Every routing-gating check is passing; true when there are none. */
  routable: boolean;
  /** Every check, gating or not, is passing; true when there are none. */
  allPassing: boolean;
}

/**
 * Only `passing` counts: a `warning` is not good enough to send traffic to or to finish a deploy on.
 * (hangar's own runners never produce `warning`; it stays in the union for Fly compatibility.)
 */
export function summarize(checks: readonly CheckState[]): Pick<HealthChange, 'routable' | 'allPassing'> {
  return {
    routable: checks.every((c) => !c.gatesRouting || c.status === 'passing'),
    allPassing: checks.every((c) => c.status === 'passing'),
  };
}
