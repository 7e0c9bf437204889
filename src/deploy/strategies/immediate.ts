import { DeployFailure, type DeployStrategy } from '../strategy.js';

const POOL = 8;

/**
 * immediate: every targeted machine is replaced at once (8 at a time) without waiting for health. The
 * proxy's hold window keeps requests waiting while no machine is up.
 */
export const immediate: DeployStrategy = {
  name: 'immediate',
  async run(ctx) {
    await ctx.emit({ type: 'phase', phase: 'update_machines', message: `replacing ${ctx.targets.length} machine(s) at once` });
    const queue = [...ctx.targets];
    await Promise.all(
      Array.from({ length: Math.min(POOL, queue.length) }, async () => {
        for (let m = queue.shift(); m; m = queue.shift()) await ctx.update(m, 'now');
      }),
    );
    if (ctx.failures() > ctx.deployment.options.maxFailures) {
      throw new DeployFailure('update_machines', `${ctx.failures()} machine(s) failed to update (max failures ${ctx.deployment.options.maxFailures})`);
    }
  },
};
