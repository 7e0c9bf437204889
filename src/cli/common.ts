import { Command } from 'commander';
import type { MachineView } from '../api/contract.js';
import { UserError } from '../core/errors.js';
import { Context, type GlobalOpts } from './context.js';
import { reportError } from './output.js';

/** Adds the flags every leaf command takes. */
export function common(cmd: Command, opts: { json?: boolean; app?: boolean } = {}): Command {
  if (opts.app !== false) cmd.option('-a, --app <name>', 'app name (default: from hangar.toml / fly.toml in this directory)');
  if (opts.app !== false) cmd.option('-c, --config <path>', 'config file (default: ./hangar.toml, else ./fly.toml)');
  if (opts.json !== false) cmd.option('-j, --json', 'JSON output');
  cmd.option('--debug', 'show stack traces for errors');
  return cmd;
}

/** Wraps an action: builds the Context from the command's flags and turns errors into an exit code. */
export function action<A extends unknown[]>(fn: (ctx: Context, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts() as GlobalOpts;
    try {
      await fn(new Context(opts), ...(args.slice(0, -1) as A));
    } catch (err) {
      process.exitCode = reportError(err, Boolean(opts.debug));
    }
  };
}

export const enc = encodeURIComponent;

export function machinesPath(app: string, id?: string, suffix = ''): string {
  return `/v1/apps/${enc(app)}/machines${id ? `/${enc(id)}` : ''}${suffix}`;
}

/** Finds a machine by id, id prefix or name, with a clear error when it is unknown or ambiguous. */
export async function findMachine(ctx: Context, app: string, ref: string): Promise<MachineView> {
  const all = await ctx.api.get<MachineView[]>(machinesPath(app));
  const exact = all.find((m) => m.id === ref || m.name === ref);
  if (exact) return exact;
  const pre = all.filter((m) => m.id.startsWith(ref));
  if (pre.length === 1) return pre[0]!;
  if (pre.length > 1) throw new UserError({ code: 'ambiguous_machine', message: `machine id prefix ${ref} matches ${pre.length} machines`, hint: 'give more characters of the id' });
  throw new UserError({ code: 'machine_not_found', kind: 'not_found', message: `machine ${ref} not found in app ${app}`, hint: `list machines with: hangar machines list -a ${app}` });
}

/** Parses repeated `K=V` flags. */
export function parseEnvPairs(pairs: string[] | undefined, flag = '--env'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UserError({ code: 'invalid_env', message: `${flag} ${JSON.stringify(p)} is not KEY=VALUE`, hint: `e.g. ${flag} LOG_LEVEL=debug` });
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export function collect(value: string, prev: string[] = []): string[] {
  return [...prev, value];
}
