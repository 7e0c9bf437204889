import type { ReleaseStatus } from '../../core/deploy.js';
import { DeployFailure, groupOf, type DeployStrategy, type StrategyContext } from '../strategy.js';

/** Request header that reaches green before the cutover (documented in the README). */
export const PREVIEW_HEADER = 'hangar-preview';

interface BlueGreenState {
  blue?: string[];
  green?: string[];
  cut?: boolean;
}

/**
 * bluegreen, as named phases: protect blue (all traffic pinned to the current machines), create_green
 * (a full new set, no public traffic, reachable with the preview header), wait until every green machine
 * passes its checks, optionally await promotion, cutover (one routing change: all new requests to green),
 * drain_old (blue drains kill_timeout, stops, is destroyed). Undo before the cutover destroys green and
 * leaves blue serving.
 */
export const bluegreen: DeployStrategy = {
  name: 'bluegreen',
  controls: ['promote', 'abort'],
  // A full, healthy green set (or a done cutover) is a known state to go on from after a restart.
  resumable: (d) => {
    const st = (d.extra ?? {}) as BlueGreenState;
    return st.cut === true || (st.blue !== undefined && st.blue.length > 0 && st.green?.length === st.blue.length);
  },
  async run(ctx) {
    const st: BlueGreenState = { ...(ctx.deployment.extra as BlueGreenState) };
    const blue = st.blue ?? ctx.targets.map((m) => m.id);
    if (!st.cut) {
      st.blue = blue;
      const resumed = st.green !== undefined && st.green.length === blue.length;
      const green = resumed ? st.green! : await createGreen(ctx, st, blue);
      if (resumed) {
        await ctx.setTraffic(preview(blue, green));
        await ctx.phase('create_green', `resuming with ${green.length} green machine(s) next to blue`);
      }
      if (!ctx.cfg.deploy.bluegreen.autoPromote || ctx.deployment.extra?.noCutover) {
        await ctx.phase('awaiting_promotion', `green is healthy; promote with: hangar deployments promote ${ctx.deployment.id} (or abort)`);
        const c = await ctx.wait();
        if (c === 'abort') throw new DeployFailure('awaiting_promotion', 'aborted by the user before the cutover');
      }
      await ctx.phase('cutover', `switching all traffic from ${blue.length} blue to ${green.length} green machine(s)`);
      await ctx.setTraffic({ sets: [{ name: 'green', machines: green, weight: 1 }], pins: null });
      st.cut = true;
      await ctx.save({ ...st });
    }
    await drainBlue(ctx, st.blue ?? blue);
    await ctx.setTraffic({ sets: null, pins: null });
  },
  async undo(ctx, failure): Promise<ReleaseStatus> {
    const st = ctx.deployment.extra as BlueGreenState;
    if (st?.cut) {
      await ctx.emit({ type: 'warning', message: `after the cutover: ${failure.message}` });
      return 'complete';
    }
    await ctx.setTraffic({ sets: null, pins: null });
    const green = ctx.deployment.machines.filter((p) => p.fromConfig === null && p.outcome !== 'destroyed').map((p) => p.machineId);
    await ctx.phase('rolling_back', `${failure.message}; destroying ${green.length} green machine(s), blue keeps serving`);
    for (const id of green) await ctx.destroyMachine(id).catch((err) => ctx.emit({ type: 'warning', message: `could not destroy green ${id}: ${(err as Error).message}; run: hangar machines destroy ${id} --force -a ${ctx.deployment.appName}` }));
    return 'failed';
  },
};

/** Blue takes all public traffic; green only requests with the preview header. */
function preview(blue: string[], green: string[]) {
  return { sets: [{ name: 'blue', machines: blue, weight: 1 }, { name: 'green', machines: [...green], weight: 0 }], pins: [{ set: 'green', header: { name: PREVIEW_HEADER, value: '1' } }] };
}

async function createGreen(ctx: StrategyContext, st: BlueGreenState, blue: string[]): Promise<string[]> {
  await ctx.setTraffic(preview(blue, []));
  await ctx.phase('create_green', `creating ${ctx.targets.length} green machine(s) next to blue; preview them with the header ${PREVIEW_HEADER}: 1`);
  const green: string[] = [];
  try {
    await Promise.all(
      ctx.targets.map(async (b) => {
        const g = await ctx.createMachine(groupOf(b), b.region);
        green.push(g.id);
        st.green = [...green];
        await ctx.save({ ...st });
        await ctx.setTraffic(preview(blue, green));
      }),
    );
  } catch (err) {
    throw new DeployFailure('create_green', `green did not become healthy: ${(err as Error).message}`);
  }
  return green;
}

async function drainBlue(ctx: StrategyContext, blue: string[]): Promise<void> {
  await ctx.phase('drain_old', `draining and destroying ${blue.length} blue machine(s)`);
  const left: string[] = [];
  for (const id of blue) {
    if (ctx.deployment.machines.find((p) => p.machineId === id)?.outcome === 'destroyed') continue;
    await ctx.destroyMachine(id).catch(() => left.push(id));
  }
  for (const id of left) await ctx.emit({ type: 'warning', message: `blue machine ${id} could not be destroyed; run: hangar machines destroy ${id} --force -a ${ctx.deployment.appName}` });
}
