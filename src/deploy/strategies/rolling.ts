import { batchSize } from '../../core/deploy.js';
import { byGroup, DeployFailure, type DeployStrategy } from '../strategy.js';

/**
 * rolling (the default): per process group, the first machine goes alone (the spearhead), then batches
 * of `max_unavailable`. Each started machine gets its new instance next to the old one and switches only
 * when the new one passes its checks; stopped machines are updated without being started. More failures
 * than `--max-failures` stop the rollout before the next batch.
 */
export const rolling: DeployStrategy = {
  name: 'rolling',
  async run(ctx) {
    for (const [group, machines] of byGroup(ctx.targets)) {
      const size = batchSize(ctx.deployment.options.maxUnavailable, machines.length);
      const batches = [machines.slice(0, 1), ...chunk(machines.slice(1), size)].filter((b) => b.length > 0);
      for (const [i, batch] of batches.entries()) {
        await ctx.emit({ type: 'phase', phase: 'update_machines', message: `${group}: updating ${batch.length} machine(s) (batch ${i + 1}/${batches.length})` });
        await Promise.all(batch.map((m) => ctx.update(m, 'surge')));
        if (ctx.failures() > ctx.deployment.options.maxFailures) {
          throw new DeployFailure('update_machines', `${ctx.failures()} machine(s) failed to update (max failures ${ctx.deployment.options.maxFailures})`);
        }
      }
    }
  },
};

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}
