/**
 * Command lines in the config: `[processes]` entries, `[experimental] cmd` and machine checks may be a
 * string or an argv array. This is the one place that turns a string into argv.
 */

/**
 * A plain command line ("node server.js --port 8080", with simple quoting) is split into argv and run
 * directly, so kill_signal reaches the app itself. Anything using shell syntax runs under `/bin/sh -c`.
 */
export function splitCommand(command: string): string[] {
  if (/^\s*\w+=/.test(command) || /[|&;<>()$`\\*?[\]{}~!#\n]/.test(command)) return ['/bin/sh', '-c', command];
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(command); m; m = re.exec(command)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** A string (split as above) or a non-empty array of strings as argv; undefined for anything else. */
export function toArgv(value: unknown): string[] | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : splitCommand(value);
  const ok = Array.isArray(value) && value.length > 0 && value.every((a) => typeof a === 'string') && value[0].trim() !== '';
  return ok ? [...(value as string[])] : undefined;
}
