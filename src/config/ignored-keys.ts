/**
 * Keys fly.toml allows that hangar does not act on. A fly.toml copied from a real Fly app should load
 * with warnings rather than fail, so these are removed (and reported) before the schema sees the file.
 * Keys neither Fly nor hangar knows reach the schema, which reports them as warnings too, with a
 * spelling hint where one fits. The list follows the structs of flyctl's app config, so every key of
 * Fly's schema is either acted on or listed here.
 */
import { isTable, joinPath as join, type Tree } from './tree.js';
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
    'mount',
    'statics',
    'metrics',
    'metric',
    'files',
    'host_dedication_id',
    'machine_config',
    'container',
    'machine_checks',
  ],
  experimental: [
    'exec',
    'auto_rollback',
    'enable_consul',
    'enable_etcd',
    'lazy_load_images',
    'attached',
    'machine_config',
    'use_zstd',
    'compression',
    'compression_level',
    'allowed_public_ports',
    'private_network',
    'metrics_port',
    'metrics_path',
  ],
  build: ['builder', 'buildpacks', 'builtin', 'settings', 'compression', 'compression_level'],
  deploy: ['max_concurrent', 'release_command_vm', 'seed_command'],
  http_service: ['tls_options', 'proxy_proto_options'],
  'http_service.http_options': ['compress', 'response', 'idle_timeout', 'headers_read_timeout'],
  'http_service.checks[]': ['tls_server_name'],
  'services[]': ['script_checks', 'force_instance_key', 'force_instance_description'],
  'services[].ports[]': ['tls_options', 'proxy_proto_options'],
  'services[].ports[].http_options': ['compress', 'response', 'idle_timeout', 'headers_read_timeout'],
  'services[].http_checks[]': ['tls_server_name', 'restart_limit'],
  'services[].tcp_checks[]': ['restart_limit'],
  'checks.*': ['tls_server_name', 'kind'],
  'vm[]': ['gpus', 'gpu_kind', 'kernel_args', 'host_dedication_id', 'persist_rootfs', 'max_memory_mb'],
};

/** Tables whose keys are names the user chose, so the location pattern uses `*` for them. */
const NAMED_ENTRY_TABLES = new Set(['checks']);

function ignoredKeysAt(pattern: string): readonly string[] {
  return IGNORED[pattern] ?? [];
}

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
