import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { CONFIG_FILE_NAMES, parseConfig } from '../../config/index.js';
import { UserError } from '../../core/errors.js';
import { NAME_PATTERN } from '../../core/ids.js';
import { action, common } from '../common.js';
import { isDirectory, type Context } from '../context.js';
import { say } from '../output.js';
import { detectApp, LOOKED_FOR } from '../launch/detect.js';
import type { LaunchPlan } from '../launch/plan.js';
import { renderConfig } from '../launch/render.js';

interface LaunchFlags {
  name?: string;
  region?: string;
  yes?: boolean;
  force?: boolean;
}

export function launchCommand(): Command {
  return common(new Command('launch').description('write a hangar.toml for an app directory, from what is in it (Dockerfile, Procfile, Node, Python)'), { app: false, json: false })
    .argument('[dir]', 'app directory (default: .)')
    .option('-n, --name <name>', 'app name (default: the directory name, made a valid app name)')
    .option('-r, --region <region>', 'primary region (default: local)')
    .option('-y, --yes', 'take the defaults without asking (the default when stdin is not a terminal)')
    .option('--force', 'overwrite an existing hangar.toml, or write one next to a fly.toml')
    .action(action(launch));
}

async function launch(ctx: Context, dirArg: string | undefined): Promise<void> {
  const f = ctx.opts as LaunchFlags;
  const dir = resolve(dirArg ?? '.');
  if (!isDirectory(dir)) throw new UserError({ code: 'launch_dir_not_found', kind: 'not_found', message: `${dir} is not a directory`, hint: 'pass the app directory: hangar launch path/to/app' });
  if (!f.force) refuseExisting(dir);
  const plan = detectApp(dir);
  const region = regionOf(f.region);
  let app = f.name !== undefined ? checkedName(f.name, '--name') : suggestedName(dir);
  if (f.name === undefined && !f.yes && process.stdin.isTTY && process.stdout.isTTY) app = await askName(app);
  const file = join(dir, CONFIG_FILE_NAMES[0]);
  const text = renderConfig(plan, { app, region });
  // The file must load as written; a failure here is launch's mistake, and is better shown than written.
  parseConfig(text, file);
  writeFileSync(file, text, { flag: f.force ? 'w' : 'wx' });
  report(plan, { dir, file, app, region });
}

/** hangar.toml is launch's to write; a fly.toml already works as it is, and would be shadowed by one. */
function refuseExisting(dir: string): void {
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(dir, name);
    if (!existsSync(file)) continue;
    const why = name === 'fly.toml' ? `: hangar deploy reads it as it is` : '';
    const hint = name === 'fly.toml' ? '--force writes a hangar.toml next to it, which hangar then reads instead' : '--force overwrites it';
    throw new UserError({ code: 'config_exists', kind: 'conflict', message: `${file} already exists${why}`, hint });
  }
}

function regionOf(flag: string | undefined): string {
  if (flag === undefined) return 'local';
  if (!/^[A-Za-z0-9_-]+$/.test(flag)) throw new UserError({ code: 'invalid_region', message: `--region ${JSON.stringify(flag)} is not a region name`, hint: 'regions are labels of letters, digits, "-" and "_", e.g. --region ams' });
  return flag;
}

function checkedName(name: string, source: string): string {
  if (NAME_PATTERN.test(name)) return name;
  throw new UserError({ code: 'invalid_app_name', message: `${source} ${JSON.stringify(name)} is not a valid app name`, hint: 'app names start with a lowercase letter and contain only a-z, 0-9 and "-" (at most 63 characters)' });
}

/** The directory's name, lowercased, with every run of other characters turned into one dash. */
export function suggestedName(dir: string): string {
  let name = basename(dir).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (name !== '' && !/^[a-z]/.test(name)) name = `app-${name}`;
  name = name.slice(0, 63).replace(/-+$/, '');
  if (NAME_PATTERN.test(name)) return name;
  throw new UserError({ code: 'no_app_name', message: `cannot make an app name from the directory name ${JSON.stringify(basename(dir))}`, hint: 'name the app: hangar launch --name my-app' });
}

/** Asks again after a wrong answer; Ctrl-D (end of input) cancels. */
async function askName(suggested: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    rl.setPrompt(`App name [${suggested}]: `);
    rl.prompt();
    // Iterating keeps lines typed ahead of the prompt, which rl.question would drop.
    for await (const line of rl) {
      const answer = line.trim();
      if (answer === '') return suggested;
      if (NAME_PATTERN.test(answer)) return answer;
      say('  app names start with a lowercase letter and contain only a-z, 0-9 and "-" (at most 63 characters)');
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  throw new UserError({ code: 'launch_cancelled', message: 'cancelled: no hangar.toml written' });
}

function report(plan: LaunchPlan, where: { dir: string; file: string; app: string; region: string }): void {
  const deploy = relative(process.cwd(), where.dir) === '' ? 'hangar deploy' : `hangar deploy ${relative(process.cwd(), where.dir)}`;
  if (!plan.kind) {
    say(`Could not detect the app in ${where.dir}: found none of ${LOOKED_FOR}.`);
    say(`Wrote a commented template to ${where.file} (app ${where.app}, region ${where.region}).`);
    say(`Next: fill in [processes] and [http_service] (or [build]), then run: ${deploy}`);
    return;
  }
  say(`Detected a ${plan.kind} in ${where.dir}:`);
  for (const line of plan.found) say(`  ${line}`);
  for (const line of plan.missing) say(`  could not detect ${line}: see the commented lines in ${CONFIG_FILE_NAMES[0]}`);
  for (const line of plan.notes) say(`  note: ${line}`);
  say(`Wrote ${where.file} (app ${where.app}, region ${where.region}).`);
  say(`Next: ${deploy}`);
}
