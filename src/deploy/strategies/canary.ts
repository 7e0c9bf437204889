import type { MetricsSummary, ReleaseStatus } from '../../core/deploy.js';
import type { WindowStats } from '../../core/window-stats.js';
import { DeployFailure, groupOf, type DeployStrategy, type StrategyContext } from '../strategy.js';
import { rolling } from './rolling.js';

/** Requests with this header (value 1) or cookie (value 1) always reach the canaries. */
export const CANARY_HEADER = 'hangar-canary';
export const CANARY_COOKIE = 'hangar-canary';

const TICK_MS = 250;

interface CanaryState {
  canaries?: string[];
  stable?: string[];
  step?: number;
  weight?: number;
  promoted?: boolean;
  decision?: { step: number; weight: number; verdict: string; reason: string; canary: MetricsSummary; stable: MetricsSummary };
}

const summary = (s: WindowStats): MetricsSummary => ({ requests: s.requests, errorRate: s.errorRate, p95Ms: s.p95Ms });
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * canary: launch canary machines on the new release (`[deploy.canary] count` per group), then shift
 * traffic in `steps` (percent of the app's requests) judged continuously against the stable set from the
 * proxy's own metrics: error rate (5xx and connection failures) and p95 latency. A breach sends all
 * traffic back to stable at once and destroys the canaries. After the last step the stable machines roll
 * (health-gated) onto the new release and the canaries are removed, so the app keeps its machine count.
 */
export const canary: DeployStrategy = {
  name: 'canary',
  controls: ['promote', 'abort', 'pause', 'resume'],
  // Once every canary is up (or it was promoted), the step, weight and sets are enough to go on from.
  resumable: (d) => {
    const st = (d.extra ?? {}) as CanaryState;
    return st.promoted === true || (st.canaries?.length ?? 0) > 0;
  },
  async run(ctx) {
    const st: CanaryState = { ...(ctx.deployment.extra as CanaryState) };
    const stable = st.stable ?? ctx.targets.map((m) => m.id);
    st.stable = stable;
    if (!st.promoted) {
      if (st.canaries?.length) {
        await ctx.setTraffic(traffic(stable, st.canaries, st.weight ?? 0));
        await ctx.phase('canary', `resuming at step ${(st.step ?? 0) + 1} with ${st.canaries.length} canary machine(s) at ${st.weight ?? 0}%`);
      } else {
        st.canaries = await launchCanaries(ctx, stable);
        await ctx.save({ ...st });
      }
      await walkSteps(ctx, st);
      st.promoted = true;
      await ctx.save({ ...st });
    }
    await ctx.phase('promote', `canary passed; rolling ${stable.length} stable machine(s) onto v${ctx.deployment.releaseVersion}`);
    await ctx.setTraffic({ sets: null, pins: null });
    await rolling.run({ ...ctx, targets: ctx.targets.filter((m) => stable.includes(m.id)) });
    for (const id of st.canaries ?? []) await ctx.destroyMachine(id);
  },
  async undo(ctx, failure): Promise<ReleaseStatus> {
    const st = ctx.deployment.extra as CanaryState;
    // All traffic back on stable first (one routing change), then clean up.
    if (st?.stable) await ctx.setTraffic({ sets: [{ name: 'stable', machines: st.stable, weight: 100 }], pins: null });
    await ctx.phase('rolling_back', `${failure.message}; all traffic is back on stable`);
    for (const id of st?.canaries ?? ctx.deployment.machines.filter((p) => p.fromConfig === null).map((p) => p.machineId)) {
      await ctx.destroyMachine(id).catch((err) => ctx.emit({ type: 'warning', message: `could not destroy canary ${id}: ${(err as Error).message}` }));
    }
    await ctx.setTraffic({ sets: null, pins: null });
    return 'rolled_back';
  },
};

async function launchCanaries(ctx: StrategyContext, stable: string[]): Promise<string[]> {
  const cc = ctx.cfg.deploy.canary;
  await ctx.setTraffic(traffic(stable, [], 0));
  await ctx.phase('canary', `launching canary machines (${cc.count} per process group)`);
  const groups = [...new Set(ctx.targets.map(groupOf))];
  const canaries: string[] = [];
  try {
    for (const g of groups) {
      const region = ctx.targets.find((m) => groupOf(m) === g)!.region;
      for (let i = 0; i < cc.count; i++) canaries.push((await ctx.createMachine(g, region)).id);
    }
  } catch (err) {
    throw new DeployFailure('canary', `a canary did not become healthy: ${(err as Error).message}`);
  }
  await ctx.setTraffic(traffic(stable, canaries, 0));
  return canaries;
}

function traffic(stable: string[], canaries: string[], weight: number) {
  return {
    sets: [
      { name: 'stable', machines: stable, weight: 100 - weight },
      { name: 'canary', machines: canaries, weight },
    ],
    pins: [
      { set: 'canary', header: { name: CANARY_HEADER, value: '1' } },
      { set: 'canary', cookie: { name: CANARY_COOKIE, value: '1' } },
    ],
  };
}

async function walkSteps(ctx: StrategyContext, st: CanaryState): Promise<void> {
  const cc = ctx.cfg.deploy.canary;
  for (const [i, step] of cc.steps.entries()) {
    if (i < (st.step ?? 0)) continue;
    st.step = i;
    if (step === 'pause') {
      await ctx.phase('canary', `step ${i + 1}/${cc.steps.length}: paused at ${st.weight ?? 0}%; continue with: hangar deployments promote ${ctx.deployment.id}`);
      await ctx.save({ ...st });
      if ((await ctx.wait()) === 'abort') throw new DeployFailure('canary', `aborted by the user at step ${i + 1}`);
      continue;
    }
    st.weight = step;
    await ctx.setTraffic(traffic(st.stable!, st.canaries!, step));
    await ctx.save({ ...st });
    await ctx.phase('canary', `step ${i + 1}/${cc.steps.length}: ${step}% of requests to the canary for ${cc.stepIntervalMs / 1000}s`);
    if ((await judgeStep(ctx, st, i, step)) === 'promote') return;
  }
}

/** Watches one step; throws on a breach or an abort. */
async function judgeStep(ctx: StrategyContext, st: CanaryState, index: number, weight: number): Promise<'done' | 'promote'> {
  const cc = ctx.cfg.deploy.canary;
  const started = Date.now();
  for (;;) {
    const c = await ctx.wait(Math.min(TICK_MS, Math.max(0, cc.stepIntervalMs - (Date.now() - started))));
    if (c === 'abort') throw new DeployFailure('canary', `aborted by the user at step ${index + 1} (${weight}%)`);
    if (c === 'promote') return 'promote';
    const windowMs = Math.max(1000, Date.now() - started);
    const { a, b } = await ctx.compare(st.canaries!, st.stable!, windowMs);
    const breach = verdict(a, b, cc);
    if (breach) {
      st.decision = { step: index + 1, weight, verdict: 'abort', reason: breach, canary: summary(a), stable: summary(b) };
      await ctx.save({ ...st });
      await ctx.emit({ type: 'decision', step: index + 1, weight, verdict: 'abort', reason: breach, canary: summary(a), stable: summary(b) });
      throw new DeployFailure('canary', `canary aborted at step ${index + 1} (${weight}%): ${breach}`);
    }
    if (Date.now() - started >= cc.stepIntervalMs) {
      const reason = a.requests < cc.minRequests ? `only ${a.requests} canary requests (min ${cc.minRequests}); no breach seen` : `error rate ${pct(a.errorRate)} vs stable ${pct(b.errorRate)}, p95 ${a.p95Ms?.toFixed(1) ?? '-'} ms vs ${b.p95Ms?.toFixed(1) ?? '-'} ms`;
      st.decision = { step: index + 1, weight, verdict: 'continue', reason, canary: summary(a), stable: summary(b) };
      await ctx.save({ ...st });
      await ctx.emit({ type: 'decision', step: index + 1, weight, verdict: 'continue', reason, canary: summary(a), stable: summary(b) });
      return 'done';
    }
  }
}

/** The breach, named with both sets' values, or undefined. Judged only once the canary has enough requests. */
export function verdict(c: WindowStats, s: WindowStats, cc: { maxErrorRate: number; maxLatencyRatio: number; latencyFloorMs: number; minRequests: number }): string | undefined {
  if (c.requests < cc.minRequests) return undefined;
  if (c.errorRate > cc.maxErrorRate) return `error rate ${pct(c.errorRate)} > max_error_rate ${pct(cc.maxErrorRate)} (canary ${c.errors}/${c.requests}, stable ${pct(s.errorRate)} of ${s.requests})`;
  if (c.p95Ms !== null && s.p95Ms !== null && s.p95Ms > 0 && s.requests >= cc.minRequests && c.p95Ms / s.p95Ms > cc.maxLatencyRatio && c.p95Ms - s.p95Ms > cc.latencyFloorMs) {
    return `p95 latency ${c.p95Ms.toFixed(1)} ms is ${(c.p95Ms / s.p95Ms).toFixed(2)}× stable's ${s.p95Ms.toFixed(1)} ms > max_latency_ratio ${cc.maxLatencyRatio} (and more than latency_floor ${cc.latencyFloorMs} ms slower)`;
  }
  return undefined;
}
