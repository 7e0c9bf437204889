/**
 * fly.toml's older and alternative spellings inside `[http_service]` and `[[services]]`, rewritten in
 * place into the one form the schema knows (the tree is the loader's own copy). flyctl reads a single
 * `[services]` table (and a single `ports`, `tcp_checks` or `http_checks` table) as a one-entry list,
 * accepts a `[[services]]` entry without `internal_port`, turns string ports into numbers, reads
 * `concurrency = "soft,hard"`, and ignores a `port` in a service's checks: those always probe the
 * service's `internal_port`. Each rewrite that changes meaning, or drops a key, warns.
 */
import { isTable, joinPath, tablesAt, type Tree } from './tree.js';
import type { ConfigWarning } from './types.js';

/** Applies every rewrite to `[http_service]` and each `[[services]]` entry, adding to `warnings`. */
export function normalizeServices(tree: Tree, warnings: ConfigWarning[]): void {
  servicesList(tree, warnings);
  for (const { table, path } of [...tablesAt(tree, 'http_service'), ...tablesAt(tree, 'services[]')]) {
    serviceForms(table, path, warnings);
  }
}

/**
 * `[services]` as one table is one service. An entry without `internal_port` (an empty `[[services]]`,
 * or a stray `[services.concurrency]`) is one flyctl accepts and sends nowhere; the schema leaves it
 * out, and this says so, by the entry's place in the file.
 */
function servicesList(tree: Tree, warnings: ConfigWarning[]): void {
  listOfTables(tree, 'services', '', warnings);
  tablesAt(tree, 'services[]').forEach(({ table, path }) => {
    if (table.internal_port !== undefined) return;
    const message = Object.keys(table).length === 0
      ? 'an empty [[services]] entry is ignored, as flyctl ignores it'
      : 'a service without internal_port is ignored: it has nowhere to send traffic (flyctl accepts it, with internal_port 0)';
    warnings.push({ path, message });
  });
}

/**
 * flyctl accepts one table where a list of tables is expected (`[services.ports]` for
 * `[[services.ports]]`). A value of any other type is left for the schema to report.
 */
function listOfTables(parent: Tree, key: string, base: string, warnings: ConfigWarning[]): void {
  const value = parent[key];
  if (!isTable(value)) return;
  parent[key] = [value];
  warnings.push({ path: joinPath(base, key), message: 'a single table here is read as a list of one entry, as flyctl reads it' });
}

function serviceForms(service: Tree, path: string, warnings: ConfigWarning[]): void {
  for (const key of ['ports', 'tcp_checks', 'http_checks']) listOfTables(service, key, path, warnings);
  numericString(service, 'internal_port', path, warnings);
  concurrencyString(service, path, warnings);
  tablesAt(service, 'ports[]').forEach((p) => {
    numericString(p.table, 'port', joinPath(path, p.path), warnings);
    portRange(p.table, joinPath(path, p.path), warnings);
  });
  for (const checks of ['checks[]', 'http_checks[]', 'tcp_checks[]']) {
    tablesAt(service, checks).forEach((c) => {
      headerList(c.table, joinPath(path, c.path), warnings);
      if (checks !== 'checks[]') checkPort(c.table, joinPath(path, c.path), warnings);
    });
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
export function headerList(check: Tree, path: string, warnings: ConfigWarning[]): void {
  const list = check.headers;
  if (!Array.isArray(list)) return;
  if (!list.every((h) => isTable(h) && typeof h.name === 'string')) return;
  check.headers = Object.fromEntries((list as Tree[]).map((h) => [h.name as string, h.value ?? '']));
  if (list.length > 0) warnings.push({ path: joinPath(path, 'headers'), message: 'headers as a list of {name, value} tables (an old form) are read as a map' });
}

/**
 * flyctl has no `port` for `[[services.tcp_checks]]` / `[[services.http_checks]]` and drops it, so on
 * Fly such a check probes `internal_port`. Old files often carry a port the app never listens on;
 * probing it would fail a check that passes on Fly.
 */
function checkPort(check: Tree, path: string, warnings: ConfigWarning[]): void {
  if (check.port === undefined) return;
  const message = `ignored, as flyctl ignores it: a service's check probes the service's internal_port (port was ${JSON.stringify(check.port)})`;
  warnings.push({ path: joinPath(path, 'port'), message });
  delete check.port;
}
