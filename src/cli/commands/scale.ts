import { Command } from 'commander';
import type { MachineView } from '../../api/contract.js';
import { UserError } from '../../core/errors.js';
import { action, common, machinesPath } from '../common.js';
import { printJson, say } from '../output.js';

const PREFER_REMOVING = ['failed', 'stopped', 'created', 'starting', 'started'];

/** `hangar scale count N`: clone or destroy machines of a process group (in a region) until there are N. */
export function scaleCommand(): Command {
  const scale = new Command('scale').description('change the number of machines');
  scale.addCommand(
    common(new Command('count').argument('<count>', 'desired number of machines').description('scale a process group to N machines'))
      .option('-r, --region <region>', 'only count (and create) machines in this region')
      .option('-g, --process-group <group>', 'process group (required when the app has several)')
      .action(
        action(async (ctx, countText: string) => {
          const o = ctx.opts as { region?: string; processGroup?: string };
          const want = Number(countText);
          if (!Number.isInteger(want) || want < 0) throw new UserError({ code: 'invalid_count', message: `count ${JSON.stringify(countText)} is not a whole number ≥ 0`, hint: 'e.g. hangar scale count 3' });
          const app = ctx.appName();
          const all = await ctx.api.get<MachineView[]>(machinesPath(app));
          const groups = [...new Set(all.map((m) => m.process_group))];
          const group = o.processGroup ?? (groups.length === 1 ? groups[0] : undefined);
          if (!group) {
            throw new UserError({
              code: groups.length ? 'process_group_required' : 'no_machines',
              message: groups.length ? `app ${app} has process groups ${groups.join(', ')}` : `app ${app} has no machines to scale from`,
              hint: groups.length ? 'pick one with --process-group' : `start one first: hangar machines run DIR -a ${app}`,
            });
          }
          const inGroup = all.filter((m) => m.process_group === group);
          if (inGroup.length === 0) throw new UserError({ code: 'unknown_process_group', message: `app ${app} has no machines in process group ${group}`, hint: `groups with machines: ${groups.join(', ') || 'none'}` });
          const counted = o.region ? inGroup.filter((m) => m.region === o.region) : inGroup;
          const changes: Array<{ action: 'created' | 'destroyed'; id: string; region: string }> = [];
          const template = inGroup.find((m) => m.state === 'started') ?? inGroup[0]!;
          for (let i = counted.length; i < want; i++) {
            const m = await ctx.api.post<MachineView>(machinesPath(app), { config: template.config, region: o.region ?? template.region });
            changes.push({ action: 'created', id: m.id, region: m.region });
          }
          const extra = [...counted].sort((a, b) => PREFER_REMOVING.indexOf(a.state) - PREFER_REMOVING.indexOf(b.state) || b.created_at.localeCompare(a.created_at)).slice(0, Math.max(0, counted.length - want));
          for (const m of extra) {
            await ctx.api.delete(machinesPath(app, m.id) + '?force=true');
            changes.push({ action: 'destroyed', id: m.id, region: m.region });
          }
          if (ctx.opts.json) return printJson({ app, process_group: group, region: o.region ?? null, count: want, changes });
          if (changes.length === 0) return say(`App ${app} already has ${want} ${group} machine(s)${o.region ? ` in ${o.region}` : ''}`);
          for (const c of changes) say(`${c.action === 'created' ? 'Created' : 'Destroyed'} machine ${c.id} in ${c.region}`);
          say(`App ${app} now has ${want} ${group} machine(s)${o.region ? ` in ${o.region}` : ''}`);
        }),
      ),
  );
  return scale;
}
