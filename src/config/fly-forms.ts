/**
 * fly.toml has older and alternative spellings that flyctl still reads: `processes = []` from old
 * `fly launch` templates and `[[processes]]` lists, `[[env]]`, `[vm]` as one table, `[compute]`,
 * `build_target`, `[experimental] cmd`, `[[checks]]` with names, headers as a list of name/value
 * tables (and, in ./service-forms.ts, the forms inside services). This rewrites them into the one form
 * the schema knows, in place (the tree is the loader's own copy), and warns wherever the meaning is
 * reinterpreted rather than merely respelt.
 */
import { toArgv } from './command.js';
import { headerList, normalizeServices } from './service-forms.js';
import { isTable, tablesAt, type Tree } from './tree.js';
import type { ConfigWarning } from './types.js';
import { VM_PRESETS } from './vm-sizes.js';

/** Applies every rewrite; returns the warnings. */
export function normalizeFlyForms(tree: Tree): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  processesList(tree, warnings);
  envList(tree, warnings);
  vmTables(tree, warnings);
  buildTarget(tree, warnings);
  normalizeServices(tree, warnings);
  checksList(tree, warnings);
  experimental(tree, warnings);
  return warnings;
}

/**
 * `processes = []` (old `fly launch`) means no processes. A list of `{name, command}` tables (the API's
 * form) is read as `[processes]`; as in flyctl, an entry without a name is dropped, a missing command
 * is the image's own command, and an entry's other keys are ignored.
 */
function processesList(tree: Tree, warnings: ConfigWarning[]): void {
  const list = tree.processes;
  if (!Array.isArray(list)) return;
  delete tree.processes;
  const named: Tree = {};
  list.forEach((entry, i) => {
    const path = `processes[${i}]`;
    if (!isTable(entry) || entry.name === undefined) {
      warnings.push({ path, message: 'ignored, as flyctl ignores it: a processes list entry without a name' });
      return;
    }
    for (const key of Object.keys(entry).filter((k) => k !== 'name' && k !== 'command')) {
      warnings.push({ path: `${path}.${key}`, message: 'ignored: a processes list entry has only name and command' });
    }
    named[String(entry.name)] = entry.command ?? '';
  });
  if (Object.keys(named).length === 0) return;
  tree.processes = named;
  warnings.push({ path: 'processes', message: 'processes is a list of {name, command} tables (an old form); read as [processes] name = command' });
}

/** `[[env]]` tables are merged, later ones winning, as flyctl does. */
function envList(tree: Tree, warnings: ConfigWarning[]): void {
  if (!Array.isArray(tree.env) || !tree.env.every(isTable)) return;
  tree.env = Object.assign({}, ...(tree.env as Tree[]));
  warnings.push({ path: 'env', message: '[[env]] tables are merged into one [env] (an old form)' });
}

/** `[vm]` may be one table or an array; flyctl also reads `[compute]` / `[[computes]]` as `[[vm]]`. */
function vmTables(tree: Tree, warnings: ConfigWarning[]): void {
  const all: unknown[] = [];
  for (const key of ['vm', 'compute', 'computes']) {
    const value = tree[key];
    if (value === undefined) continue;
    if (!isTable(value) && !Array.isArray(value)) return; // the schema reports the bad type
    if (key !== 'vm') warnings.push({ path: key, message: `[${key}] is read as [[vm]] (Fly's older name for it)` });
    all.push(...(Array.isArray(value) ? value : [value]));
    delete tree[key];
  }
  if (all.length > 0) tree.vm = all;
  tablesAt(tree, 'vm[]').forEach(({ table, path }) => vmWarnings(table, path, warnings));
}

function vmWarnings(vm: Tree, path: string, warnings: ConfigWarning[]): void {
  if (vm.memory !== undefined && vm.memory_mb !== undefined) {
    warnings.push({ path: `${path}.memory`, message: `both memory and memory_mb are set; memory_mb (${String(vm.memory_mb)}) wins, as on Fly` });
  }
  const preset = typeof vm.size === 'string' ? VM_PRESETS[vm.size] : undefined;
  if (preset?.gpuKind) {
    warnings.push({ path: `${path}.size`, message: `size "${String(vm.size)}" includes a GPU (${preset.gpuKind}), which hangar does not provide; only its CPUs and memory are recorded` });
  }
}

/** Fly reads `build_target` as `build-target`; when both are set, `build_target` wins there too. */
function buildTarget(tree: Tree, warnings: ConfigWarning[]): void {
  const build = tree.build;
  if (!isTable(build) || build.build_target === undefined) return;
  if (build['build-target'] !== undefined && build['build-target'] !== build.build_target) {
    warnings.push({ path: 'build.build-target', message: 'both build-target and build_target are set; build_target wins, as on Fly' });
  }
  build['build-target'] = build.build_target;
  delete build.build_target;
}

/** `[[checks]]` with a `name` each (an old form) becomes `[checks.<name>]`. */
function checksList(tree: Tree, warnings: ConfigWarning[]): void {
  const list = tree.checks;
  if (!Array.isArray(list) || !list.every((c) => isTable(c) && typeof c.name === 'string')) return;
  tree.checks = Object.fromEntries((list as Tree[]).map(({ name, ...rest }) => [name as string, rest]));
  if (list.length > 0) warnings.push({ path: 'checks', message: '[[checks]] with a name each (an old form) are read as [checks.<name>]' });
  tablesAt(tree, 'checks.*').forEach((c) => headerList(c.table, c.path, warnings));
}

/**
 * `[experimental] cmd` is the command of a group whose `[processes]` entry gives none, and
 * `entrypoint` runs before every group's command, as flyctl builds a machine's init; its
 * `kill_timeout` is the top-level one when that is absent. The table's other keys are left for
 * ./ignored-keys.ts to warn about.
 */
function experimental(tree: Tree, warnings: ConfigWarning[]): void {
  const exp = tree.experimental;
  if (!isTable(exp)) return;
  for (const key of ['cmd', 'entrypoint']) experimentalArgv(exp, key, warnings);
  if (exp.entrypoint !== undefined) {
    warnings.push({ path: 'experimental.entrypoint', message: "entrypoint is run as the start of the machine's command (entrypoint, then cmd); a Docker image's own ENTRYPOINT is not replaced" });
  }
  if (exp.kill_timeout !== undefined) {
    const used = tree.kill_timeout === undefined;
    if (used) tree.kill_timeout = exp.kill_timeout;
    warnings.push({ path: 'experimental.kill_timeout', message: used ? 'read as the top-level kill_timeout (an old place for it)' : 'ignored: the top-level kill_timeout is set' });
    delete exp.kill_timeout;
  }
}

/**
 * flyctl turns a string `cmd` into a one-element list, so `cmd = "node server.js"` names a program
 * called "node server.js" on Fly. hangar splits it like a `[processes]` command and says so.
 */
function experimentalArgv(exp: Tree, key: string, warnings: ConfigWarning[]): void {
  const value = exp[key];
  const argv = toArgv(value);
  if (!argv) return; // anything else stays as it is, for the schema to report
  exp[key] = argv;
  if (typeof value !== 'string' || argv.length < 2) return;
  const message = `${key} is one string: flyctl passes it as a single argument (a program named ${JSON.stringify(value)}); hangar splits it into a command line, as for [processes]`;
  warnings.push({ path: `experimental.${key}`, message });
}
