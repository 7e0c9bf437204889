import Table from 'cli-table3';
import picocolors from 'picocolors';
import { isUserError } from '../core/errors.js';
import { DaemonBugError } from './client.js';

/**
 * Colour only where a person reads it: NO_COLOR turns it off, FORCE_COLOR on, otherwise the stream
 * written to must be a terminal. (picocolors' own default also colours any output when CI is set,
 * which puts escape codes into piped output and log files.)
 */
export function colorsFor(stream: { isTTY?: boolean }): ReturnType<typeof picocolors.createColors> {
  const env = process.env;
  const on = 'NO_COLOR' in env ? false : 'FORCE_COLOR' in env && env.FORCE_COLOR !== '0' ? true : Boolean(stream.isTTY) && env.TERM !== 'dumb';
  return picocolors.createColors(on);
}

export const stdoutColors = colorsFor(process.stdout);
export const stderrColors = colorsFor(process.stderr);
export const plain = picocolors.createColors(false);

/** Human output: borderless, aligned columns. */
export function table(head: string[], rows: Array<Array<string | number | null | undefined>>): string {
  const t = new Table({
    head,
    chars: {
      top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
      left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
    },
    style: { head: process.stdout.isTTY ? ['bold'] : [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  for (const r of rows) t.push(r.map((c) => (c === null || c === undefined ? '' : String(c))));
  return t.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function say(line: string): void {
  process.stdout.write(line + '\n');
}

export function warn(line: string): void {
  process.stderr.write(`${stderrColors.yellow('warning:')} ${line}\n`);
}

/** "3m ago" style ages for listings. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function colorState(state: string): string {
  if (state === 'started') return stdoutColors.green(state);
  if (state === 'failed' || state === 'destroyed') return stdoutColors.red(state);
  if (state === 'stopped' || state === 'created') return stdoutColors.dim(state);
  return stdoutColors.yellow(state);
}

/**
 * The CLI's error boundary. A UserError is one line plus its hint (and the bad fields): exit 1. A bug
 * in the daemon is one line saying so, with the request id and where its log is, plus how to report
 * it: exit 2. Anything else is a bug in the CLI, shown with its stack only under --debug: exit 2.
 */
export function reportError(err: unknown, debug: boolean): number {
  const out = (line: string) => process.stderr.write(line + '\n');
  const c = stderrColors;
  if (err instanceof DaemonBugError) {
    const id = err.requestId ? `request id ${err.requestId}` : 'no request id in the answer';
    out(`${c.red('Error:')} internal error in the hangar daemon (a bug in hangar, not your input): ${oneLine(err.message)}; ${id}; see ${err.log}`);
    out(`${c.dim('hint:')} please report this bug in hangar with the command you ran and the daemon log's entry for ${err.requestId ?? 'that time'}${debug ? '' : '; --debug shows the whole answer'}`);
    if (debug) out(`the daemon answered ${err.status}: ${err.body}`);
    return 2;
  }
  if (isUserError(err)) {
    out(`${c.red('Error:')} ${err.message}`);
    const shown = err.details.filter((d) => !err.message.includes(d.path));
    for (const d of shown.slice(0, 20)) out(`  ${d.path}: ${d.message}${d.value !== undefined ? ` (got ${JSON.stringify(d.value)})` : ''}`);
    if (err.hint) out(`${c.dim('hint:')} ${err.hint}`);
    if (debug) out(stackWithCauses(err));
    return 1;
  }
  const e = err as Error;
  out(`${c.red('Error:')} ${e?.message ?? String(err)}`);
  if (debug && e?.stack) out(stackWithCauses(e));
  else out(`${c.dim('hint:')} this looks like a bug in hangar; run again with --debug for the stack trace`);
  return 2;
}

/** A message as one line, whatever the daemon put in it. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The stack, then each cause's, as Node prints them. */
function stackWithCauses(err: Error): string {
  const parts = [err.stack ?? String(err)];
  const seen = new Set<unknown>([err]);
  for (let cause = err.cause; cause !== undefined && !seen.has(cause); cause = (cause as Error | undefined)?.cause) {
    seen.add(cause);
    parts.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
  }
  return parts.join('\n');
}
