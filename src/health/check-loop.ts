/**
 * The schedule of one check on one machine instance: wait out the grace period, then probe every
 * interval. The next probe is only scheduled once the previous one has settled, so a slow app never
 * has two probes of the same check in flight.
 */
import { performance } from 'node:perf_hooks';
import { runCheck, type CheckResult } from './runner.js';
import type { CheckSpec } from './specs.js';
import type { CheckState } from './state.js';

export const GRACE_OUTPUT = 'waiting for grace period';

export interface CheckLoopDeps {
  host: string;
  now: () => number;
  /** Lower bound for the interval, whatever the spec says. */
  minIntervalMs: number;
  /** Called after `state` changed (status or output). */
  onUpdate: () => void;
}

/**
 * Until a check has passed once, it is probed this often (for at most STARTUP_WINDOW_MS), so a deploy
 * sees a new instance ready within a few ms of it being ready instead of at the next interval.
 */
export const STARTUP_PROBE_MS = 25;
const STARTUP_WINDOW_MS = 30_000;

export class CheckLoop {
  state: CheckState;
  private passedOnce = false;
  private readonly createdAt = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private inflight: AbortController | undefined;
  private stopped = false;

  constructor(
    private readonly spec: CheckSpec,
    private readonly deps: CheckLoopDeps,
  ) {
    this.state = {
      name: spec.name,
      status: 'critical',
      output: GRACE_OUTPUT,
      updatedAt: new Date(deps.now()).toISOString(),
      gatesRouting: spec.gatesRouting,
    };
  }

  start(): void {
    if (!this.stopped && !this.timer) this.schedule(this.spec.gracePeriodMs);
  }

  /** Cancels the pending timer and any probe in flight; the loop never reports again. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inflight?.abort();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    // tick() runs detached from a timer: nothing may escape it as an unhandled rejection.
    this.timer = undefined;
    const startedAt = performance.now();
    const controller = new AbortController();
    this.inflight = controller;
    const result = await probeSafely(this.spec, this.deps.host, controller.signal);
    this.inflight = undefined;
    if (this.stopped) return;
    this.record(result);
    // record() may have reached a consumer that unwatched this instance.
    if (this.stopped) return;
    // Intervals run start to start, as users expect "every 15s" to mean.
    const starting = !this.passedOnce && performance.now() - this.createdAt < STARTUP_WINDOW_MS;
    const intervalMs = Math.max(starting ? Math.min(STARTUP_PROBE_MS, this.spec.intervalMs) : this.spec.intervalMs, this.deps.minIntervalMs);
    this.schedule(Math.max(0, intervalMs - (performance.now() - startedAt)));
  }

  private record(result: CheckResult): void {
    const status = result.ok ? 'passing' : 'critical';
    if (result.ok) this.passedOnce = true;
    if (status === this.state.status && result.output === this.state.output) return;
    this.state = { ...this.state, status, output: result.output, updatedAt: new Date(this.deps.now()).toISOString() };
    this.deps.onUpdate();
  }
}

/** Runners promise never to throw; if one does anyway, the check fails instead of the loop dying. */
async function probeSafely(spec: CheckSpec, host: string, signal: AbortSignal): Promise<CheckResult> {
  try {
    return await runCheck(spec, host, signal);
  } catch (err) {
    return { ok: false, output: `check crashed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
