import { Command } from 'commander';
import type { DrainView, HostView } from '../../api/contract.js';
import { action, common, enc } from '../common.js';
import { ago, colorState, printJson, say, table } from '../output.js';

/** `hangar hosts`: the cluster's hosts, draining one, removing one. */
export function hostsCommand(): Command {
  const cmd = new Command('hosts').description('the hosts of the cluster (one per hangar node)');
  cmd.addCommand(
    common(new Command('list').alias('ls').description('list hosts with their state and machines'), { app: false }).action(
      action(async (ctx) => {
        const hosts = await ctx.api.get<HostView[]>('/v1/hosts');
        if (ctx.opts.json) return printJson(hosts);
        say(
          table(
            ['ID', 'NAME', 'REGION', 'ADDRESS', 'STATE', 'MACHINES', 'CPUS', 'MEMORY', 'LAST SEEN'],
            hosts.map((h) => [h.id, h.name, h.region, h.address, colorState(h.state), h.machines, h.cpus, `${Math.round(h.memory_mb / 1024)} GiB`, ago(h.last_seen)]),
          ),
        );
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('drain').argument('<host>', 'host name or id').description('stop placing new machines on a host'), { app: false })
      .option('--migrate', "also move its machines to the other hosts of its region, one at a time, each replacement healthy before the old one drains and goes")
      .action(
        action(async (ctx, host: string) => {
          const migrate = Boolean((ctx.opts as { migrate?: boolean }).migrate);
          const r = await ctx.api.post<DrainView>(`/v1/hosts/${enc(host)}/drain${migrate ? '?migrate=true' : ''}`);
          if (ctx.opts.json) return printJson(r);
          for (const m of r.migrated) say(`moved ${m.machine} → ${m.replacement} on ${m.host}`);
          say(`host ${r.host.name} is draining: no new machines are placed there (${r.host.machines} machine(s) still on it)`);
        }),
      ),
  );
  cmd.addCommand(
    common(new Command('undrain').argument('<host>', 'host name or id').description('place new machines on a drained host again'), { app: false }).action(
      action(async (ctx, host: string) => {
        const h = await ctx.api.post<HostView>(`/v1/hosts/${enc(host)}/undrain`);
        if (ctx.opts.json) return printJson(h);
        say(`host ${h.name} is ${h.state}`);
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('remove').alias('rm').argument('<host>', 'host name or id').description('remove a host from the cluster (refused while its node runs or it has machines)'), { app: false })
      .option('--force', 'remove it anyway; its machines are written off as destroyed')
      .action(
        action(async (ctx, host: string) => {
          const force = Boolean((ctx.opts as { force?: boolean }).force);
          const h = await ctx.api.delete<HostView>(`/v1/hosts/${enc(host)}${force ? '?force=true' : ''}`);
          if (ctx.opts.json) return printJson(h);
          say(`host ${h.name} removed`);
        }),
      ),
  );
  return cmd;
}
