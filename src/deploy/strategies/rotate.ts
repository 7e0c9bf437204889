import { DeployFailure, type DeployStrategy } from '../strategy.js';

const POLL_MS = 500;
const DEFAULT_IDLE_MS = 10_000;

/**
 * rotate: the new release becomes the app's target at once, and each machine moves to it at the moment
 * it stops (it is updated without being started) or goes idle (no request in flight through the proxy
 * for the idle window: its new instance starts next to the old one, which then drains) — a busy machine
 * is never interrupted. With a deadline, stragglers are drained (kill_timeout) and updated anyway. The
 * deploy completes when every targeted machine runs the release.
 */
export const rotate: DeployStrategy = {
  name: 'rotate',
  controls: ['abort'],
  async run(ctx) {
    const o = ctx.deployment.options;
    const idleMs = o.rotateIdleMs ?? DEFAULT_IDLE_MS;
    const deadline = o.rotateDeadlineMs !== undefined ? Date.parse(ctx.deployment.createdAt) + o.rotateDeadlineMs : Infinity;
    let pending = [...ctx.targets];
    let reported = -1;
    while (pending.length > 0) {
      const still = [];
      for (const m of pending) {
        const cur = await ctx.machine(m.id);
        const late = Date.now() >= deadline;
        if (cur.state === 'started' && ctx.idleFor(cur.id) < idleMs && !late) {
          still.push(cur);
          continue;
        }
        if (late && cur.state === 'started' && ctx.idleFor(cur.id) < idleMs) await ctx.emit({ type: 'warning', message: `deadline passed: draining busy machine ${cur.id} and updating it` });
        await ctx.update(cur, 'surge');
      }
      pending = still;
      if (pending.length !== reported && pending.length > 0) {
        reported = pending.length;
        await ctx.phase('update_machines', `${pending.length} machine(s) still on an older release; each moves when it stops or goes idle${deadline < Infinity ? ` (deadline ${new Date(deadline).toISOString()})` : ''}`);
      }
      if (pending.length > 0 && (await ctx.wait(POLL_MS)) === 'abort') throw new DeployFailure('update_machines', `aborted by the user with ${pending.length} machine(s) still on an older release`);
    }
    if (ctx.failures() > o.maxFailures) throw new DeployFailure('update_machines', `${ctx.failures()} machine(s) failed to update`);
  },
};
