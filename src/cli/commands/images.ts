import { Command } from 'commander';
import type { ImageView } from '../../api/contract.js';
import { action, common, enc } from '../common.js';
import { ago, printJson, say, table } from '../output.js';

export function imagesCommand(): Command {
  const cmd = new Command('images').description("list and inspect the app's images");
  cmd.addCommand(
    common(new Command('list').alias('ls').description('list images, newest first')).action(
      action(async (ctx) => {
        const list = await ctx.api.get<ImageView[]>(`/v1/apps/${enc(ctx.appName())}/images`);
        if (ctx.opts.json) return printJson(list);
        say(table(['REF', 'RUNTIME', 'DIGEST', 'FILES', 'SIZE', 'CREATED'], list.map((i) => [i.ref, i.runtime, i.digest.slice(0, 19), i.runtime === 'docker' ? '' : i.file_count, `${(i.size_bytes / 1024).toFixed(1)} KiB`, ago(i.created_at)])));
      }),
    ),
  );
  cmd.addCommand(
    common(new Command('show').argument('<ref>', 'tag or full reference').description('inspect one image')).action(
      action(async (ctx, ref: string) => {
        const img = await ctx.api.get<ImageView>(`/v1/apps/${enc(ctx.appName())}/images/${enc(ref)}`);
        if (ctx.opts.json) return printJson(img);
        for (const [k, v] of Object.entries(img)) say(`${k.padEnd(11)} ${v}`);
      }),
    ),
  );
  return cmd;
}
