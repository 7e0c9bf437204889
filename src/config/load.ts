/**
 * Reading a config file: TOML syntax → Fly's alternative forms and bare-number durations normalised
 * (warnings) → ignored fly keys stripped (warnings) → the app name settled → zod schema (unknown keys
 * are warnings) → cross-field checks → a frozen AppConfig. Every problem of the file is reported at
 * once; a stage that needs typed values runs only when the earlier ones passed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { UserError, ValidationError, type ErrorDetail } from '../core/errors.js';
import { APP_HINT, resolveAppName } from './app-name.js';
import { crossCheck } from './cross-checks.js';
import { isUnknownKeyIssue, issueToDetail, problemsError, unknownKeyWarning } from './diagnostics.js';
import { unitBareDurations } from './durations.js';
import { normalizeFlyForms } from './fly-forms.js';
import { stripIgnoredKeys } from './ignored-keys.js';
import { configSchema, type ParsedConfig } from './schema.js';
import { cloneTree, isTable, type Tree } from './tree.js';
import type { AppConfig, ConfigWarning, LoadedConfig, LoadOptions } from './types.js';

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

/** Reads a config file's text. Throws `UserError` `config_not_found`. */
export function readConfigText(path: string): string {
  const absolute = resolve(path);
  try {
    return readFileSync(absolute, 'utf8');
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
}

/** Reads and validates a config file. Throws `UserError` (`config_not_found`, `no_app`) or `ValidationError`. */
export function loadConfig(path: string, opts: LoadOptions = {}): LoadedConfig {
  return parseConfig(readConfigText(path), path, opts);
}

/** Validates config text; `path` names the file in messages and sets `dir`. Does no I/O. */
export function parseConfig(text: string, path: string, opts: LoadOptions = {}): LoadedConfig {
  const checked = checkConfig(text, path, opts);
  if (checked.error) throw checked.error;
  return checked.loaded!;
}

/** Everything known about a config: the config when it is valid, and every problem and warning. */
export interface ConfigCheck {
  loaded?: LoadedConfig;
  problems: ErrorDetail[];
  warnings: ConfigWarning[];
  /** What `parseConfig` throws: one error covering all the problems. */
  error?: UserError;
}

/** Like `parseConfig`, but returns problems instead of throwing, so warnings survive a failure. */
export function checkConfig(text: string, path: string, opts: LoadOptions = {}): ConfigCheck {
  const absolute = resolve(path);
  let raw: Tree;
  try {
    raw = parseTomlText(text, absolute);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { problems: err.details, warnings: [], error: err };
  }
  const { config, problems, warnings } = validate(raw, opts);
  const unique = dedupe(warnings);
  if (problems.length > 0) return { problems, warnings: unique, error: errorFor(basename(absolute), problems) };
  const loaded = { config: deepFreeze(withoutUndefined(config!)) as AppConfig, warnings: unique, path: absolute, dir: dirname(absolute) };
  return { loaded, problems: [], warnings: unique };
}

function validate(raw: Tree, opts: LoadOptions): { config?: AppConfig; problems: ErrorDetail[]; warnings: ConfigWarning[] } {
  const copy = cloneTree(raw);
  const warnings = [...normalizeFlyForms(copy), ...unitBareDurations(copy)];
  const stripped = stripIgnoredKeys(copy);
  warnings.push(...stripped.warnings);
  const named = resolveAppName(stripped.tree, opts.app);
  warnings.push(...named.warnings);
  const schema = runSchema(stripped.tree);
  warnings.push(...schema.warnings);
  const problems = [...named.details, ...schema.problems];
  if (!schema.parsed || problems.length > 0) return { problems, warnings };
  const checked = crossCheck(schema.parsed);
  warnings.push(...checked.warnings);
  return { config: checked.config, problems: checked.details, warnings };
}

/**
 * The schema, with unknown keys as warnings: a first pass finds them, they are removed, and a second
 * pass yields the typed config. (zod fails a parse on any issue, so the keys must go first.)
 */
function runSchema(tree: Tree): { parsed?: ParsedConfig; problems: ErrorDetail[]; warnings: ConfigWarning[] } {
  const first = configSchema.safeParse(tree, { reportInput: true });
  if (first.success) return { parsed: first.data, problems: [], warnings: [] };
  const unknown = first.error.issues.filter(isUnknownKeyIssue);
  const warnings = unknown.map(unknownKeyWarning);
  const problems = first.error.issues.filter((i) => !isUnknownKeyIssue(i)).map(issueToDetail);
  if (problems.length > 0) return { problems, warnings };
  for (const issue of unknown) deleteAt(tree, issue.path);
  const second = configSchema.safeParse(tree, { reportInput: true });
  if (second.success) return { parsed: second.data, problems: [], warnings };
  return { problems: second.error.issues.map(issueToDetail), warnings };
}

function deleteAt(tree: Tree, path: readonly PropertyKey[]): void {
  let at: unknown = tree;
  for (const seg of path.slice(0, -1)) at = (at as Record<PropertyKey, unknown>)?.[seg];
  if (isTable(at)) delete at[path[path.length - 1] as string];
}

/** A file whose only problem is a missing app name gets one line and a hint; otherwise all problems. */
function errorFor(fileName: string, problems: ErrorDetail[]): UserError {
  const only = problems.length === 1 ? problems[0]! : undefined;
  if (only?.path === 'app' && only.message.includes(APP_HINT)) {
    const what = only.value === undefined ? 'does not name the app' : `names the app ${JSON.stringify(only.value)}, a placeholder`;
    return new UserError({ code: 'no_app', message: `${fileName} ${what}`, hint: APP_HINT, details: problems });
  }
  return problemsError(fileName, problems);
}

/** A key reached twice (say, by two normalising steps) is reported once. */
function dedupe(warnings: ConfigWarning[]): ConfigWarning[] {
  const seen = new Set<string>();
  return warnings.filter((w) => {
    const key = `${w.path}\0${w.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function parseTomlText(text: string, file: string): Tree {
  try {
    return parseToml(text) as Tree;
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
