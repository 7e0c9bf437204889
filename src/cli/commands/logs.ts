import { Command } from 'commander';
import type { LogLine } from '../../api/contract.js';
import { action, common, enc } from '../common.js';
import { say } from '../output.js';

/**
 * `hangar logs`: follows by default, as `fly logs` does; `--no-tail` prints what is stored and exits.
 * Machine output and platform lines interleave, each naming its source: `app[<machine>]`,
 * `runner[<machine>]`, `health[<machine>]`, `release_command[<machine>]`, `deploy[<app>]`, `proxy[…]`.
 */
export function logsCommand(): Command {
  return common(new Command('logs').description('show app logs and what the platform did (follows; --no-tail to print and exit)'))
    .option('--no-tail', 'print stored lines and exit')
    .option('--machine <id>', 'only lines about this machine (id or name); app-wide deploy and proxy lines are left out')
    .option('-r, --region <region>', 'only lines about machines in this region; app-wide lines are left out')
    .option('--source <sources>', 'only these sources, comma-separated: app, runner, health, release_command, machine_check, deploy, proxy')
    .option('-n, --lines <n>', 'stored lines to show first', '100')
    .action(
      action(async (ctx) => {
        const o = ctx.opts as { tail: boolean; machine?: string; region?: string; source?: string; lines: string };
        const app = ctx.appName();
        const q = new URLSearchParams({ follow: String(o.tail), limit: String(Number(o.lines) || 0) });
        if (o.machine) q.set('machine', o.machine);
        if (o.region) q.set('region', o.region);
        if (o.source) q.set('source', o.source);
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        await ctx.api.stream(
          `/v1/apps/${enc(app)}/logs?${q}`,
          (v) => {
            const l = v as LogLine;
            if (ctx.opts.json) say(JSON.stringify(l));
            else say(`${l.timestamp.replace(/\.\d+Z$/, 'Z')} ${logPrefix(l)} ${l.message}`);
          },
          abort.signal,
        );
      }),
    );
}

/**
 * What a plain line says before its message: `<source>[<machine or app>] <region> [<level>]` (app-wide
 * lines have no region); in a cluster the host follows the region (`fra/fra-1`).
 */
function logPrefix(l: LogLine): string {
  const who = `${l.source}[${l.machine_id ?? l.app}]`;
  const where = l.region && l.host ? `${l.region}/${l.host}` : (l.region ?? (l.host ? `@${l.host}` : undefined));
  return where ? `${who} ${where} [${l.level}]` : `${who} [${l.level}]`;
}
