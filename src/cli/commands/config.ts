import { basename, resolve } from 'node:path';
import { Command } from 'commander';
import { checkConfig, findConfigFile, readConfigText, type ConfigCheck } from '../../config/index.js';
import { UserError, type ErrorDetail } from '../../core/errors.js';
import { action, common } from '../common.js';
import { appOverride, type Context } from '../context.js';
import { printJson, say, stdoutColors } from '../output.js';

/** `hangar config`: work with the config file itself, no daemon needed. */
export function configCommand(): Command {
  const cmd = new Command('config').description('check the app configuration (hangar.toml / fly.toml)');
  cmd.addCommand(
    common(new Command('validate').description('check a config the way fly config validate does: every problem and warning with its field path; exit 1 on problems')).action(
      action(async (ctx) => validate(ctx)),
    ),
  );
  return cmd;
}

async function validate(ctx: Context): Promise<void> {
  const path = ctx.opts.config ? resolve(ctx.opts.config) : findConfigFile(process.cwd());
  if (!path) {
    throw new UserError({ code: 'config_not_found', kind: 'not_found', message: `no hangar.toml or fly.toml in ${process.cwd()}`, hint: 'run from the app directory, or pass -c path/to/fly.toml' });
  }
  const result = checkConfig(readConfigText(path), path, { app: appOverride(ctx.opts) });
  if (result.problems.length > 0) process.exitCode = 1;
  if (ctx.opts.json) return printJson(asJson(result));
  report(basename(path), result);
}

/** The `--json` shape: `{valid, problems: [{path, message, value?}], warnings: [{path, message}]}`. */
function asJson(r: ConfigCheck): unknown {
  return {
    valid: r.problems.length === 0,
    problems: r.problems.map((p) => (p.value === undefined ? { path: p.path, message: p.message } : { path: p.path, message: p.message, value: p.value })),
    warnings: r.warnings.map((w) => ({ path: w.path, message: w.message })),
  };
}

function report(file: string, r: ConfigCheck): void {
  const c = stdoutColors;
  for (const p of r.problems) say(`${c.red('problem:')} ${problemLine(p)}`);
  for (const w of r.warnings) say(`${c.yellow('warning:')} ${w.path}: ${w.message}`);
  const warnings = r.warnings.length === 0 ? '' : ` (${plural(r.warnings.length, 'warning')})`;
  if (r.problems.length === 0) say(`${c.green('✓')} ${file} is valid${warnings}`);
  else say(`${c.red('✗')} ${file} has ${plural(r.problems.length, 'problem')}${warnings}`);
}

function problemLine(p: ErrorDetail): string {
  const where = p.path === '' ? '(top level)' : p.path;
  return p.value === undefined ? `${where}: ${p.message}` : `${where}: ${p.message} (got ${JSON.stringify(p.value)})`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
