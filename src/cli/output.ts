import Table from 'cli-table3';
import picocolors from 'picocolors';
import { isUserError } from '../core/errors.js';

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
 * The CLI's error boundary: a UserError is one line plus its hint (and the bad fields); anything else is
 * a bug, shown with its stack only under --debug.
 */
export function reportError(err: unknown, debug: boolean): number {
  if (isUserError(err)) {
    process.stderr.write(`${stderrColors.red('Error:')} ${err.message}\n`);
    const shown = err.details.filter((d) => !err.message.includes(d.path));
    for (const d of shown.slice(0, 20)) process.stderr.write(`  ${d.path}: ${d.message}${d.value !== undefined ? ` (got ${JSON.stringify(d.value)})` : ''}\n`);
    if (err.hint) process.stderr.write(`${stderrColors.dim('hint:')} ${err.hint}\n`);
    if (debug && err.stack) process.stderr.write(err.stack + '\n');
    return 1;
  }
  const e = err as Error;
  process.stderr.write(`${stderrColors.red('Error:')} ${e?.message ?? String(err)}\n`);
  if (debug && e?.stack) process.stderr.write(e.stack + '\n');
  else process.stderr.write(`${stderrColors.dim('hint:')} this looks like a bug in hangar; run again with --debug for the stack trace\n`);
  return 2;
}
