import { Command } from 'commander';
import type { LogLine } from '../../api/contract.js';
import { action, common, enc } from '../common.js';
import { say } from '../output.js';

/** `hangar logs`: follows by default, as `fly logs` does; `--no-tail` prints what is stored and exits. */
export function logsCommand(): Command {
  return common(new Command('logs').description('show app logs (follows; --no-tail to print and exit)'))
    .option('--no-tail', 'print stored lines and exit')
    .option('--machine <id>', 'only this machine (id or name)')
    .option('-r, --region <region>', 'only machines in this region')
    .option('-n, --lines <n>', 'stored lines to show first', '100')
    .action(
      action(async (ctx) => {
        const o = ctx.opts as { tail: boolean; machine?: string; region?: string; lines: string };
        const app = ctx.appName();
        const q = new URLSearchParams({ follow: String(o.tail), limit: String(Number(o.lines) || 0) });
        if (o.machine) q.set('machine', o.machine);
        if (o.region) q.set('region', o.region);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        await ctx.api.stream(
          `/v1/apps/${enc(app)}/logs?${q}`,
          (v) => {
            const l = v as LogLine;
            if (ctx.opts.json) say(JSON.stringify(l));
            else say(`${l.timestamp.replace(/\.\d+Z$/, 'Z')} app[${l.machine_id}] ${l.region} [${l.level}] ${l.message}`);
          },
          abort.signal,
        );
      }),
    );
}
