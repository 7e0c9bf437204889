import { Command } from 'commander';
import type { MachineView } from '../../api/contract.js';
import { action, collect, common, findMachine, machinesPath } from '../common.js';
import { UserError } from '../../core/errors.js';
import type { Context } from '../context.js';
import { ago, colorState, printJson, say, table } from '../output.js';
import { runMachine } from './machines-run.js';

export function machineRows(list: MachineView[]) {
  return list.map((m) => [
    m.id,
    m.name,
    colorState(m.state),
    m.region,
    m.process_group,
    m.release_version ?? '',
    m.runtime,
    `${m.image_ref.repository}:${m.image_ref.tag}`,
    m.address ?? '',
    ago(m.updated_at),
  ]);
}
export const MACHINE_HEAD = ['ID', 'NAME', 'STATE', 'REGION', 'PROCESS', 'VERSION', 'RUNTIME', 'IMAGE', 'ADDRESS', 'UPDATED'];

/** Runs `fn` for each machine reference, reporting each result on its own line. */
function each(verb: string, fn: (ctx: Context, app: string, m: MachineView) => Promise<MachineView>) {
  return action(async (ctx, ids: string[]) => {
    const app = ctx.appName();
    const out: MachineView[] = [];
    const idleOnly = Boolean((ctx.opts as { idle?: boolean }).idle);
    const refs = ids.length === 0 && idleOnly ? (await ctx.api.get<MachineView[]>(machinesPath(app))).filter((m) => m.state === 'started').map((m) => m.id) : ids;
    if (refs.length === 0) throw new UserError({ code: 'no_machines', message: 'no machine given', hint: 'pass machine ids, or --idle for every idle machine' });
    for (const ref of refs) {
      const m = await findMachine(ctx, app, ref);
      if (idleOnly && (m.state !== 'started' || m.inflight > 0)) {
        if (!ctx.opts.json) say(`Skipped machine ${m.id} (${m.state === 'started' ? `${m.inflight} request(s) in flight` : m.state})`);
        continue;
      }
      const after = await fn(ctx, app, m);
      out.push(after);
      if (!ctx.opts.json) say(`${verb} machine ${after.id} (${after.name}): ${after.state}`);
    }
    if (ctx.opts.json) printJson(out);
  });
}

export function machinesCommand(): Command {
  const cmd = new Command('machines').alias('machine').alias('m').description('manage machines');

  cmd.addCommand(
    common(new Command('list').alias('ls').description('list machines'))
      .option('--all', 'include destroyed machines')
      .action(
        action(async (ctx) => {
          const app = ctx.appName();
          const all = Boolean((ctx.opts as { all?: boolean }).all);
          const list = await ctx.api.get<MachineView[]>(machinesPath(app) + (all ? '?include_deleted=true' : ''));
          if (ctx.opts.json) return printJson(list);
          if (list.length === 0) return say(`No machines in app ${app}. Start one with: hangar machines run DIR -a ${app}`);
          say(table(MACHINE_HEAD, machineRows(list)));
        }),
      ),
  );

  cmd.addCommand(
    common(new Command('status').argument('<id>', 'machine id, id prefix or name').description('show one machine and its events')).action(
      action(async (ctx, ref: string) => {
        const app = ctx.appName();
        const found = await findMachine(ctx, app, ref);
        const m = await ctx.api.get<MachineView>(machinesPath(app, found.id));
        if (ctx.opts.json) return printJson(m);
        say(table(MACHINE_HEAD, machineRows([m])));
        say('');
        say(`Command: ${(m.config.init.cmd ?? []).join(' ')}`);
        say(`Instance: ${m.instance_id}   Restarts: ${m.restart_count}   Cordoned: ${m.cordoned}`);
        say('');
        say('Events');
        say(
          table(
            ['TIMESTAMP', 'TYPE', 'STATUS', 'SOURCE', 'DETAIL'],
            m.events.map((e) => [
              new Date(e.timestamp).toISOString(),
              e.type,
              e.status,
              e.source,
              [e.request?.exit_event?.exit_code !== undefined ? `exit_code=${e.request.exit_event.exit_code}` : '', e.request?.exit_event?.signal ?? '', e.message ?? ''].filter(Boolean).join(' '),
            ]),
          ),
        );
      }),
    ),
  );

  cmd.addCommand(
    common(new Command('start').argument('<ids...>', 'machine ids or names').description('start machines')).action(
      each('Started', (ctx, app, m) => ctx.api.post<MachineView>(machinesPath(app, m.id, '/start'))),
    ),
  );

  const stopLike = (name: 'stop' | 'restart', verb: string, ids = '<ids...>') =>
    common(new Command(name).argument(ids, 'machine ids or names').description(`${name} machines (kill_signal, then SIGKILL after the timeout)`))
      .option('-s, --signal <signal>', 'signal to send (default: the config kill_signal, SIGINT)')
      .option('--timeout <duration>', 'how long to wait before SIGKILL (default: kill_timeout)')
      .action(
        each(verb, (ctx, app, m) => {
          const o = ctx.opts as { signal?: string; timeout?: string };
          return ctx.api.post<MachineView>(machinesPath(app, m.id, `/${name}`), { ...(o.signal ? { signal: o.signal.toUpperCase().replace(/^(?!SIG)/, 'SIG') } : {}), ...(o.timeout ? { timeout: o.timeout } : {}) });
        }),
      );
  cmd.addCommand(stopLike('stop', 'Stopped'));
  cmd.addCommand(
    stopLike('restart', 'Restarted', '[ids...]').option('--idle', 'only machines with no request in flight (all such started machines when no id is given); each drains first'),
  );

  cmd.addCommand(
    common(new Command('destroy').alias('rm').argument('<ids...>', 'machine ids or names').description('destroy machines'))
      .option('-f, --force', 'destroy even if running (kills it)')
      .action(
        each('Destroyed', (ctx, app, m) => ctx.api.delete<MachineView>(machinesPath(app, m.id) + ((ctx.opts as { force?: boolean }).force ? '?force=true' : ''))),
      ),
  );

  for (const name of ['cordon', 'uncordon'] as const) {
    cmd.addCommand(
      common(new Command(name).argument('<ids...>', 'machine ids or names').description(name === 'cordon' ? 'take machines out of traffic (they keep running)' : 'put machines back into traffic')).action(
        each(name === 'cordon' ? 'Cordoned' : 'Uncordoned', (ctx, app, m) => ctx.api.post<MachineView>(machinesPath(app, m.id, `/${name}`))),
      ),
    );
  }

  cmd.addCommand(
    common(new Command('run').description('run a new machine from a directory (snapshotted into an image) or an image ref'))
      .argument('[image-or-dir]', 'directory or image ref (default: the config directory, else .)')
      .argument('[command...]', 'command to run (after --); default: the process group command')
      .option('-r, --region <region>', 'region label (default: primary_region)')
      .option('-g, --process-group <group>', 'process group from [processes]')
      .option('--host <host>', 'in a cluster: the host (name or id) to run it on')
      .option('-n, --name <name>', 'machine name')
      .option('-e, --env <K=V>', 'environment variable (repeatable)', collect)
      .option('--skip-start', 'create the machine without starting it')
      .action(action(runMachine)),
  );

  cmd.addCommand(
    common(new Command('clone').argument('<id>', 'machine to copy').description('create a new machine with the same config and image'))
      .option('-r, --region <region>', 'region for the clone')
      .option('--host <host>', 'in a cluster: the host (name or id) to put the clone on')
      .option('-n, --name <name>', 'name for the clone')
      .action(
        action(async (ctx, ref: string) => {
          const app = ctx.appName();
          const src = await findMachine(ctx, app, ref);
          const o = ctx.opts as { region?: string; name?: string; host?: string };
          const region = o.region ?? (o.host ? undefined : src.region);
          const m = await ctx.api.post<MachineView>(machinesPath(app), { config: src.config, ...(region ? { region } : {}), ...(o.host ? { host: o.host } : {}), ...(o.name ? { name: o.name } : {}) });
          if (ctx.opts.json) return printJson(m);
          say(`Cloned ${src.id} into machine ${m.id} (${m.name}) in ${m.region} on ${m.host}: ${m.state}${m.address ? ` at http://${m.address}` : ''}`);
        }),
      ),
  );
  return cmd;
}
