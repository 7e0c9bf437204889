/**
 * Reading a config file: TOML syntax → ignored fly keys stripped (warnings) → zod schema → cross-field
 * checks → a frozen AppConfig. Each stage reports every problem it finds in one `ValidationError`;
 * a later stage runs only when the earlier ones passed, since it needs their typed output.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { UserError, ValidationError } from '../core/errors.js';
import { crossCheck } from './cross-checks.js';
import { issueToDetail, problemsError } from './diagnostics.js';
import { stripIgnoredKeys } from './ignored-keys.js';
import { configSchema } from './schema.js';
import type { AppConfig, LoadedConfig } from './types.js';

/** hangar.toml wins, so an app can carry hangar-only settings next to the fly.toml it deploys with. */
export const CONFIG_FILE_NAMES = ['hangar.toml', 'fly.toml'] as const;

/** The config file to use in `dir`, or undefined when it has neither hangar.toml nor fly.toml. */
export function findConfigFile(dir: string): string | undefined {
  for (const name of CONFIG_FILE_NAMES) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Reads and validates a config file. Throws `UserError` (`config_not_found`) or `ValidationError`. */
export function loadConfig(path: string): LoadedConfig {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'EISDIR') throw err;
    throw new UserError({
      code: 'config_not_found',
      kind: 'not_found',
      message: code === 'EISDIR' ? `config path ${absolute} is a directory` : `config file ${absolute} not found`,
      hint: 'create a hangar.toml (or fly.toml) in the app directory, or pass --config <path>',
    });
  }
  return parseConfig(text, absolute);
}

/** Validates config text; `path` names the file in messages and sets `dir`. Does no I/O. */
export function parseConfig(text: string, path: string): LoadedConfig {
  const absolute = resolve(path);
  const fileName = basename(absolute);
  const raw = parseTomlText(text, absolute);
  const { tree, warnings } = stripIgnoredKeys(raw);

  const parsed = configSchema.safeParse(tree, { reportInput: true });
  if (!parsed.success) throw problemsError(fileName, parsed.error.issues.map(issueToDetail));

  const checked = crossCheck(parsed.data);
  if (checked.details.length > 0) throw problemsError(fileName, checked.details);

  return {
    config: deepFreeze(withoutUndefined(checked.config)) as AppConfig,
    warnings: [...warnings, ...checked.warnings],
    path: absolute,
    dir: dirname(absolute),
  };
}

function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    // smol-toml's message carries a code frame after a blank line; the first line is the reason.
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    const where = `${file}:${err.line}:${err.column}`;
    throw new ValidationError(
      `invalid TOML in ${file} at line ${err.line}, column ${err.column}: ${reason}`,
      [{ path: where, message: reason }],
      `fix the TOML syntax near line ${err.line}:\n${err.codeblock}`,
    );
  }
}

/**
 * Drops keys whose value is undefined (the schema emits them for absent optional fields), so the
 * frozen config prints and compares cleanly: a key that exists has a value.
 */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) return value.map(withoutUndefined) as T;
  if (typeof value !== 'object' || value === null || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUndefined(v);
  return out as T;
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const v of Object.values(value)) deepFreeze(v);
  return Object.freeze(value);
}
