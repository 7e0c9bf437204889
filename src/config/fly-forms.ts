/**
 * fly.toml has older and alternative spellings that flyctl still reads: `processes = []` from old
 * `fly launch` templates, `concurrency = "20,25"`, ports as strings, `[vm]` as one table, `[compute]`,
 * `build_target`, `[experimental] cmd`, headers as a list of name/value tables. This rewrites them into
 * the one form the schema knows, in place (the tree is the loader's own copy), and warns wherever the
 * meaning is reinterpreted rather than merely respelt.
 */
import { toArgv } from './command.js';
import { isTable, joinPath, tablesAt, type Tree } from './tree.js';
import type { ConfigWarning } from './types.js';
import { VM_PRESETS } from './vm-sizes.js';

/** Applies every rewrite; returns the warnings. */
export function normalizeFlyForms(tree: Tree): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  processesList(tree, warnings);
  envList(tree, warnings);
  vmTables(tree, warnings);
  buildTarget(tree, warnings);
  for (const { table, path } of [...tablesAt(tree, 'http_service'), ...tablesAt(tree, 'services[]')]) {
    serviceForms(table, path, warnings);
  }
  checksList(tree, warnings);
  experimental(tree, warnings);
  return warnings;
}

/** `processes = []` (old `fly launch`) means no processes; a list of {name, command} is the API's form. */
function processesList(tree: Tree, warnings: ConfigWarning[]): void {
  const list = tree.processes;
  if (!Array.isArray(list)) return;
  if (list.length === 0) {
    delete tree.processes;
    return;
  }
  const named = list.filter((p): p is Tree => isTable(p) && typeof p.name === 'string');
  if (named.length !== list.length) return; // not a form flyctl knows either: the schema reports it
  tree.processes = Object.fromEntries(named.map((p) => [p.name as string, p.command ?? '']));
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
    warnings.push({ path: `${path}.size`, message: `size "${String(vm.size)}" includes a ${preset.gpuKind} GPU, which hangar does not provide; only its CPUs and memory are recorded` });
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

function serviceForms(service: Tree, path: string, warnings: ConfigWarning[]): void {
  numericString(service, 'internal_port', path, warnings);
  concurrencyString(service, path, warnings);
  tablesAt(service, 'ports[]').forEach((p) => {
    numericString(p.table, 'port', joinPath(path, p.path), warnings);
    portRange(p.table, joinPath(path, p.path), warnings);
  });
  for (const checks of ['checks[]', 'http_checks[]']) {
    tablesAt(service, checks).forEach((c) => headerList(c.table, joinPath(path, c.path), warnings));
  }
}

/** flyctl converts `port = "443"` and `internal_port = "8080"` to numbers. */
function numericString(table: Tree, key: string, path: string, warnings: ConfigWarning[]): void {
  const v = table[key];
  if (typeof v !== 'string' || !/^\s*\d+\s*$/.test(v)) return;
  table[key] = Number(v);
  warnings.push({ path: joinPath(path, key), message: `${key} = ${JSON.stringify(v)} is a string; read as the number ${Number(v)}` });
}

/** The old `concurrency = "soft,hard"` string means request limits, as flyctl reads it. */
function concurrencyString(service: Tree, path: string, warnings: ConfigWarning[]): void {
  const v = service.concurrency;
  const m = typeof v === 'string' ? /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(v) : null;
  if (!m) return; // a table is the normal form; any other string fails in the schema
  service.concurrency = { type: 'requests', soft_limit: Number(m[1]), hard_limit: Number(m[2]) };
  const message = `concurrency = ${JSON.stringify(v)} (an old form) is read as type = "requests", soft_limit = ${m[1]}, hard_limit = ${m[2]}`;
  warnings.push({ path: joinPath(path, 'concurrency'), message });
}

/** hangar's proxy listens on one port per entry, so a Fly port range is accepted but not served. */
function portRange(port: Tree, path: string, warnings: ConfigWarning[]): void {
  if (port.start_port === undefined && port.end_port === undefined) return;
  const range = `${String(port.start_port ?? 0)}-${String(port.end_port ?? 65535)}`;
  const served = port.port === undefined ? 'this entry is not served' : `only port ${String(port.port)} is served`;
  warnings.push({ path, message: `port range ${range}: hangar's proxy serves one port per entry, so ${served}` });
}

/** Check headers as a list of {name, value} tables (an old form) become a map. */
function headerList(check: Tree, path: string, warnings: ConfigWarning[]): void {
  const list = check.headers;
  if (!Array.isArray(list)) return;
  if (!list.every((h) => isTable(h) && typeof h.name === 'string')) return;
  check.headers = Object.fromEntries((list as Tree[]).map((h) => [h.name as string, h.value ?? '']));
  if (list.length > 0) warnings.push({ path: joinPath(path, 'headers'), message: 'headers as a list of {name, value} tables (an old form) are read as a map' });
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
 * `[experimental] cmd` / `entrypoint` set the command when there is no `[processes]`; its
 * `kill_timeout` is the top-level one when that is absent, as flyctl reads it. The table's other keys
 * are left for ./ignored-keys.ts to warn about.
 */
function experimental(tree: Tree, warnings: ConfigWarning[]): void {
  const exp = tree.experimental;
  if (!isTable(exp)) return;
  for (const key of ['cmd', 'entrypoint']) {
    const argv = toArgv(exp[key]);
    if (argv) exp[key] = argv; // anything else stays as it is, for the schema to report
  }
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
