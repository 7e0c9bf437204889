import { Command } from 'commander';
import type { AppView } from '../../api/contract.js';
import { action, common, enc } from '../common.js';
import { ago, printJson, say, table } from '../output.js';

export function appsCommand(): Command {
  const apps = new Command('apps').description('create, list and destroy apps');

  apps.addCommand(
    common(new Command('create').argument('<name>', 'app name').description('create an app'), { app: false }).action(
      action(async (ctx, name: string) => {
        const app = await ctx.api.post<AppView>('/v1/apps', { app_name: name });
        if (ctx.opts.json) return printJson(app);
        say(`New app created: ${app.name}`);
      }),
    ),
  );

  apps.addCommand(
    common(new Command('list').alias('ls').description('list apps'), { app: false }).action(
      action(async (ctx) => {
        const res = await ctx.api.get<{ apps: AppView[] }>('/v1/apps');
        if (ctx.opts.json) return printJson(res.apps);
        if (res.apps.length === 0) return say('No apps yet. Create one with: hangar apps create NAME');
        say(table(['NAME', 'STATUS', 'MACHINES', 'URL', 'CREATED'], res.apps.map((a) => [a.name, a.status, a.machine_count, a.url ?? '', ago(a.created_at)])));
      }),
    ),
  );

  apps.addCommand(
    common(new Command('destroy').argument('<name>', 'app name').description('destroy an app and all its machines'), { app: false })
      .option('-y, --yes', 'also destroy running machines without asking')
      .action(
        action(async (ctx, name: string) => {
          const yes = Boolean((ctx.opts as { yes?: boolean }).yes);
          await ctx.api.delete(`/v1/apps/${enc(name)}${yes ? '?force=true' : ''}`);
          if (ctx.opts.json) return printJson({ ok: true, app: name });
          say(`Destroyed app ${name}`);
        }),
      ),
  );
  return apps;
}
