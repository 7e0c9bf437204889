/**
 * Keys fly.toml allows that hangar does not act on. A fly.toml copied from a real Fly app should load
 * with warnings rather than fail, so these are removed (and reported) before the schema sees the file;
 * keys neither fly nor hangar knows still reach the schema and fail there.
 */
import type { ConfigWarning } from './types.js';

/**
 * Ignored keys per location. Locations are dotted paths where `[]` stands for any element of an array
 * of tables and `*` for any entry of a user-named table (`[checks.<name>]`).
 */
const IGNORED: Readonly<Record<string, readonly string[]>> = {
  '': [
    'swap_size_mb',
    'console_command',
    'mounts',
    'statics',
    'metrics',
    'experimental',
    'files',
    'host_dedication_id',
  ],
  build: ['builder', 'buildpacks', 'builtin', 'settings'],
  deploy: ['max_concurrent', 'release_command_vm'],
  http_service: ['tls_options', 'http_options', 'machine_checks'],
  'http_service.checks[]': ['tls_server_name'],
  'services[]': ['machine_checks', 'script_checks'],
  'services[].ports[]': ['start_port', 'end_port', 'tls_options', 'http_options', 'proxy_proto_options'],
  'services[].http_checks[]': ['tls_server_name', 'restart_limit'],
  'services[].tcp_checks[]': ['restart_limit'],
  'checks.*': ['tls_server_name'],
  'vm[]': ['gpus', 'gpu_kind', 'kernel_args', 'host_dedication_id', 'persist_rootfs'],
};

/** Tables whose keys are names the user chose, so the location pattern uses `*` for them. */
const NAMED_ENTRY_TABLES = new Set(['checks']);

function ignoredKeysAt(pattern: string): readonly string[] {
  return IGNORED[pattern] ?? [];
}

type Tree = Record<string, unknown>;

const isTable = (v: unknown): v is Tree =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

const join = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

/**
 * Returns a copy of the parsed TOML without the ignored keys, and one warning per key removed.
 * The input is not modified.
 */
export function stripIgnoredKeys(raw: Tree): { tree: Tree; warnings: ConfigWarning[] } {
  const warnings: ConfigWarning[] = [];
  const tree = stripTable(raw, { pattern: '', path: '' }, warnings);
  return { tree, warnings };
}

interface Location {
  pattern: string;
  path: string;
}

function stripTable(table: Tree, at: Location, warnings: ConfigWarning[]): Tree {
  const ignored = ignoredKeysAt(at.pattern);
  const out: Tree = {};
  for (const [key, value] of Object.entries(table)) {
    const path = join(at.path, key);
    if (ignored.includes(key)) {
      warnings.push({ path, message: `fly.toml key ${path} is not supported by hangar and is ignored` });
      continue;
    }
    const pattern = NAMED_ENTRY_TABLES.has(at.pattern) ? join(at.pattern, '*') : join(at.pattern, key);
    out[key] = stripValue(value, { pattern, path }, warnings);
  }
  return out;
}

function stripValue(value: unknown, at: Location, warnings: ConfigWarning[]): unknown {
  if (isTable(value)) return stripTable(value, at, warnings);
  if (!Array.isArray(value)) return value;
  return value.map((item, i) =>
    isTable(item) ? stripTable(item, { pattern: `${at.pattern}[]`, path: `${at.path}[${i}]` }, warnings) : item,
  );
}
