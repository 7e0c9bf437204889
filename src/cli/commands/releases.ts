import { Command } from 'commander';
import type { DeploymentView, ReleaseView } from '../../api/contract.js';
import { UserError } from '../../core/errors.js';
import { action, common, enc } from '../common.js';
import { ago, printJson, say, table } from '../output.js';
import { finishDeploy } from './deploy.js';

export function releasesCommand(): Command {
  const cmd = common(new Command('releases').description('list releases, newest first').enablePositionalOptions())
    .option('--image', 'show each release’s image')
    .action(
      action(async (ctx) => {
        const list = await ctx.api.get<ReleaseView[]>(`/v1/apps/${enc(ctx.appName())}/releases`);
        if (ctx.opts.json) return printJson(list);
        const withImage = Boolean((ctx.opts as { image?: boolean }).image);
        say(
          table(
            ['VERSION', 'STABLE', 'TYPE', 'STATUS', 'DESCRIPTION', 'USER', 'DATE', ...(withImage ? ['IMAGE'] : [])],
            list.map((r) => [`v${r.version}`, String(r.stable), r.type, r.status, r.description, r.user, ago(r.created_at), ...(withImage ? [r.image] : [])]),
          ),
        );
      }),
    );
  cmd.addCommand(
    common(new Command('rollback').argument('[version]', 'release to go back to (default: the newest stable one before the current)').description('deploy an earlier release again, on the fast path'))
      .option('--strategy <name>', 'rolling (default) or immediate')
      .option('--detach', 'return at once; the rollback runs in the daemon')
      .action(
        action(async (ctx, version?: string) => {
          const v = version?.replace(/^v/, '');
          if (v !== undefined && !/^\d+$/.test(v)) throw new UserError({ code: 'invalid_version', message: `${version} is not a release version`, hint: 'e.g. hangar releases rollback v3' });
          const o = ctx.opts as { strategy?: string; detach?: boolean };
          const d = await ctx.api.post<DeploymentView>(`/v1/apps/${enc(ctx.appName())}/releases/rollback`, { ...(v ? { version: Number(v) } : {}), ...(o.strategy ? { strategy: o.strategy } : {}), user: process.env.USER ?? 'local' });
          await finishDeploy(ctx, d, Boolean(o.detach));
        }),
      ),
  );
  return cmd;
}
