import type { DeployEventLine } from '../api/contract.js';
import type { Context } from './context.js';
import { plain, say, stdoutColors } from './output.js';

/**
 * Renders a deployment's events: NDJSON with --json, plain lines when piped, coloured lines plus a
 * running per-machine tally on a TTY. Follows until the `done` event, re-attaching after a dropped
 * connection; Ctrl-C only detaches (the deploy goes on in the daemon). Returns the final status.
 */
export async function followDeployment(ctx: Context, id: string, after = 0): Promise<string | undefined> {
  const tty = Boolean(process.stdout.isTTY) && !ctx.opts.json;
  const outcomes = new Map<string, string>();
  const live = tty ? new LiveView((s) => process.stdout.write(s)) : undefined;
  let last = after;
  let status: string | undefined;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.once('SIGINT', onSigint);
  try {
    for (let attempt = 0; attempt < 20 && !status && !abort.signal.aborted; attempt++) {
      try {
        await ctx.api.stream(
          `/v1/deployments/${encodeURIComponent(id)}/events?follow=true&after=${last}`,
          (v) => {
            const e = v as DeployEventLine;
            last = e.seq;
            if (e.event.type === 'machine') outcomes.set(e.event.machineId, e.event.outcome);
            if (e.event.type === 'done') status = e.event.status;
            if (ctx.opts.json) say(JSON.stringify(e));
            else if (live) live.event(e, line(e, tty, outcomes));
            else say(line(e, tty, outcomes));
          },
          abort.signal,
        );
      } catch (err) {
        if (abort.signal.aborted) break;
        if (attempt === 19) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (abort.signal.aborted && !status) say(`Detached. The deploy continues in the daemon; re-attach with: hangar deployments watch ${id}`);
  return status;
}

function line(e: DeployEventLine, tty: boolean, outcomes: Map<string, string>): string {
  const time = e.at.slice(11, 19);
  const ev = e.event;
  const c = tty ? stdoutColors : plain;
  switch (ev.type) {
    case 'phase':
      return `${c.dim(time)} ${c.bold('==>')} ${ev.message}`;
    case 'machine': {
      const color = ev.outcome === 'updated' || ev.outcome === 'created' ? c.green : ev.outcome === 'failed' ? c.red : ev.outcome === 'rolled_back' ? c.yellow : c.cyan;
      const tally = tty ? c.dim(`  [${summary(outcomes)}]`) : '';
      return `${c.dim(time)}   ${color(ev.outcome.padEnd(11))} ${ev.message}${tally}`;
    }
    case 'log':
      return `${c.dim(time)}   ${c.dim(`${ev.source} |`)} ${ev.line}`;
    case 'warning':
      return `${c.dim(time)}   ${c.yellow('warning:')} ${ev.message}`;
    case 'decision': {
      const color = ev.verdict === 'abort' ? c.red : c.green;
      return `${c.dim(time)}   ${color(`canary ${ev.verdict}`)} at step ${ev.step} (${ev.weight}%): ${ev.reason}  ${c.dim(`[canary ${ev.canary.requests} req, ${(ev.canary.errorRate * 100).toFixed(1)}% err, p95 ${ev.canary.p95Ms?.toFixed(1) ?? '-'} ms | stable ${ev.stable.requests} req, ${(ev.stable.errorRate * 100).toFixed(1)}% err, p95 ${ev.stable.p95Ms?.toFixed(1) ?? '-'} ms]`)}`;
    }
    case 'done': {
      const ok = ev.status === 'complete';
      return `${c.dim(time)} ${ok ? c.green('✔') : c.red('✘')} ${ev.message}  (release v${ev.release}, status ${ev.status})${ev.url ? `  ${ev.url}` : ''}`;
    }
  }
}

function summary(outcomes: Map<string, string>): string {
  const counts = new Map<string, number>();
  for (const o of outcomes.values()) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ');
}

/**
 * On a terminal: event lines scroll as usual, and below them a block with one line per machine (its
 * latest outcome and message) is redrawn in place after every event.
 */
export class LiveView {
  private readonly machines = new Map<string, { outcome: string; message: string }>();
  private drawn = 0;

  constructor(private readonly write: (s: string) => void) {}

  event(e: DeployEventLine, rendered: string): void {
    let out = this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[J` : '';
    if (e.event.type === 'machine') this.machines.set(e.event.machineId, { outcome: e.event.outcome, message: e.event.message });
    else out += rendered + '\n';
    const done = e.event.type === 'done';
    const block = done ? [] : [...this.machines].map(([id, m]) => `  ${stdoutColors.bold(id)}  ${m.outcome.padEnd(11)} ${m.message}`);
    if (done) out += [...this.machines].map(([id, m]) => `  ${id}  ${m.outcome}`).join('\n') + (this.machines.size ? '\n' : '');
    out += block.map((l) => l + '\n').join('');
    this.drawn = block.length;
    this.write(out);
  }
}
