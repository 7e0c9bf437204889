import type { RestartPolicy } from './types.js';
import { assertNever } from './errors.js';

/** What to do when a machine's instance exits without being asked to. Pure: the lifecycle acts on it. */
export type RestartDecision =
  | { action: 'stop' }
  | { action: 'restart'; delayMs: number; failures: number }
  | { action: 'fail'; failures: number };

export interface RestartInput {
  policy: RestartPolicy;
  maxRetries: number;
  exitCode: number | null;
  /** Consecutive quick failures before this exit. */
  failures: number;
  /** How long the instance ran. */
  ranMs: number;
  /** An instance that ran this long is stable: the failure count starts over. */
  stableAfterMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * Fly's `[[restart]]` semantics: `no` never restarts; `on-failure` restarts non-zero exits; `always`
 * restarts every exit. Restarts back off exponentially, and a machine that keeps dying quickly goes to
 * `failed` after `maxRetries` instead of looping hot.
 */
export function decideRestart(i: RestartInput): RestartDecision {
  const failures = (i.ranMs >= i.stableAfterMs ? 0 : i.failures) + 1;
  const wantsRestart = wants(i.policy, i.exitCode);
  if (!wantsRestart) return { action: 'stop' };
  if (failures > i.maxRetries) return { action: 'fail', failures };
  const delayMs = Math.min(i.backoffMaxMs, i.backoffBaseMs * 2 ** (failures - 1));
  return { action: 'restart', delayMs, failures };
}

function wants(policy: RestartPolicy, exitCode: number | null): boolean {
  switch (policy) {
    case 'no':
      return false;
    case 'on-failure':
      return exitCode !== 0;
    case 'always':
      return true;
    default:
      return assertNever(policy);
  }
}
