import { Command } from 'commander';
import type { MachineView, SecretsChangeView, SecretsView } from '../../api/contract.js';
import { UserError, type ErrorDetail } from '../../core/errors.js';
import { action, common, enc } from '../common.js';
import type { Context } from '../context.js';
import { ago, printJson, say, table, warn } from '../output.js';
import { finishDeploy } from './deploy.js';

/**
 * `hangar secrets`: values go to the daemon and come back only as digests. Nothing here ever prints,
 * or puts into an error, an argument that might be a value.
 */
export function secretsCommand(): Command {
  const cmd = new Command('secrets').description('encrypted app secrets, given to machines as environment variables; values are never shown');
  cmd.addCommand(
    common(new Command('list').description('NAME, DIGEST, CREATED, UPDATED of every secret (never values)')).action(
      action(async (ctx) => {
        const app = ctx.appName();
        const r = await ctx.api.get<SecretsView>(`/v1/apps/${enc(app)}/secrets`);
        if (ctx.opts.json) return printJson(r.secrets);
        if (r.secrets.length === 0) return say(`App ${app} has no secrets. Set one with: hangar secrets set NAME=VALUE -a ${app}`);
        say(table(['NAME', 'DIGEST', 'CREATED', 'UPDATED'], r.secrets.map((s) => [s.name, s.digest, ago(s.created_at), ago(s.updated_at)])));
      }),
    ),
  );
  cmd.addCommand(
    changeFlags(common(new Command('set').argument('<NAME=VALUE...>', 'secrets to set').description('set secrets and roll them out as a new release (--stage: at the next start)'))).action(
      action(async (ctx, pairs: string[]) => change(ctx, { set: parseArgs(pairs) })),
    ),
  );
  cmd.addCommand(
    changeFlags(common(new Command('unset').argument('<NAME...>', 'secrets to remove').description('remove secrets and roll that out as a new release (--stage: at the next start)'))).action(
      action(async (ctx, names: string[]) => change(ctx, { unset: names })),
    ),
  );
  cmd.addCommand(
    changeFlags(common(new Command('import').description('set secrets from NAME=VALUE lines on stdin (blank lines and # comments are skipped)'))).action(
      action(async (ctx) => change(ctx, { set: parseImport(await readStdin()) })),
    ),
  );
  return cmd;
}

function changeFlags(cmd: Command): Command {
  return cmd.option('--stage', 'store only: nothing restarts; machines take the new values at their next start (or hangar deploy)').option('--detach', 'return once the rollout has started; it runs in the daemon');
}

async function change(ctx: Context, body: { set?: Record<string, string>; unset?: string[] }): Promise<void> {
  const o = ctx.opts as { stage?: boolean; detach?: boolean };
  const app = ctx.appName();
  const r = await ctx.api.post<SecretsChangeView>(`/v1/apps/${enc(app)}/secrets`, { ...body, stage: Boolean(o.stage), user: process.env.USER ?? 'local' });
  const what = describe(body);
  if (r.deployment) {
    if (!ctx.opts.json) say(`Secrets stored (${what}); rolling them out as release v${r.deployment.release}.`);
    return finishDeploy(ctx, r.deployment, Boolean(o.detach));
  }
  if (ctx.opts.json) return printJson(r);
  switch (r.outcome) {
    case 'staged':
      return say(`Secrets staged (${what}); nothing was restarted. Each machine takes them at its next start; roll them out to all with: hangar deploy`);
    case 'no_release':
      return say(`Secrets stored (${what}). App ${app} has no release yet, so nothing was restarted; its first deploy starts with them.`);
    case 'unchanged':
      return say('No change: the secrets already have these values; nothing was restarted.');
    case 'deploying':
      return;
  }
}

function describe(body: { set?: Record<string, string>; unset?: string[] }): string {
  const parts = [];
  if (body.set && Object.keys(body.set).length) parts.push(`set ${Object.keys(body.set).join(', ')}`);
  if (body.unset?.length) parts.push(`unset ${body.unset.join(', ')}`);
  return parts.join('; ');
}

/** `NAME=VALUE` arguments. A bad one is named by position only: without its `=` it may be a value. */
function parseArgs(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: ErrorDetail[] = [];
  pairs.forEach((p, i) => {
    const eq = p.indexOf('=');
    const where = `argument ${i + 1}`;
    if (eq < 0) problems.push({ path: where, message: 'expected NAME=VALUE' });
    else if (Object.hasOwn(out, p.slice(0, eq))) problems.push({ path: where, message: `${p.slice(0, eq)} is given twice` });
    else out[p.slice(0, eq)] = p.slice(eq + 1);
  });
  fail(problems, 'e.g. hangar secrets set DATABASE_URL=postgres://… API_KEY=…; quote values with spaces; or pipe NAME=VALUE lines into: hangar secrets import');
  return out;
}

/** `.env`-style text: NAME=VALUE per line (the value is everything after the first `=`, as is). */
export function parseImport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lineOf = new Map<string, number>();
  const problems: ErrorDetail[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const where = `line ${i + 1}`;
    const eq = line.indexOf('=');
    const name = line.slice(0, Math.max(eq, 0)).trim();
    if (eq < 0) problems.push({ path: where, message: 'expected NAME=VALUE' });
    else if (lineOf.has(name)) problems.push({ path: where, message: `${name} is also set on line ${lineOf.get(name)}` });
    else {
      lineOf.set(name, i + 1);
      out[name] = line.slice(eq + 1);
    }
  });
  fail(problems, 'one NAME=VALUE per line; blank lines and lines starting with # are skipped');
  if (lineOf.size === 0) throw new UserError({ code: 'invalid_input', message: 'no NAME=VALUE lines on stdin', hint: 'e.g. hangar secrets import < .env' });
  return out;
}

function fail(problems: ErrorDetail[], hint: string): void {
  if (problems.length === 0) return;
  const one = problems.length === 1;
  throw new UserError({ code: 'invalid_input', message: one ? `${problems[0]!.path}: ${problems[0]!.message}` : `${problems.length} problems in the input`, details: one ? [] : problems, hint });
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UserError({ code: 'invalid_input', message: 'hangar secrets import reads NAME=VALUE lines from stdin', hint: 'e.g. hangar secrets import < .env' });
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * For `hangar status`: the app's secrets digest and the running machines whose instance started with
 * another one (a staged change they have not picked up). A daemon that cannot tell gives a warning, not
 * a failed status.
 */
export async function staleSecrets(ctx: Context, app: string, machines: MachineView[]): Promise<{ digest: string | null; stale: Set<string> }> {
  let digest: string;
  try {
    digest = (await ctx.api.get<SecretsView>(`/v1/apps/${enc(app)}/secrets`)).digest;
  } catch (err) {
    warn(`cannot tell which machines run with outdated secrets: ${(err as Error).message}`);
    return { digest: null, stale: new Set() };
  }
  const stale = machines.filter((m) => m.state === 'started' && (m.config.metadata.hangar_secrets_digest ?? '') !== digest);
  return { digest, stale: new Set(stale.map((m) => m.id)) };
}
