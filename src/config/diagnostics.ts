/**
 * Turns zod issues into hangar's `ErrorDetail`s (field path, plain-English message, the bad value) and
 * bundles all of them into one `ValidationError`, so a user fixes the whole file in one pass instead
 * of one error per run.
 */
import type { z } from 'zod';
import { ValidationError, type ErrorDetail } from '../core/errors.js';
import { UNKNOWN_KEY } from './schema-parts.js';
import type { ConfigWarning } from './types.js';

/** How many problems the error message itself lists; `details` always has all of them. */
const LISTED_IN_MESSAGE = 10;

type Issue = z.core.$ZodIssue;

/** `['services', 0, 'ports', 1, 'port']` → `services[0].ports[1].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

export function issueToDetail(issue: Issue): ErrorDetail {
  const path = formatPath(issue.path);
  const { message, value } = describe(issue);
  return value === undefined ? { path, message } : { path, message, value };
}

function describe(issue: Issue): { message: string; value?: unknown } {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return { message: 'is required' };
      return { message: `expected ${article(issue.expected)}`, value: input };
    case 'too_small':
      return { message: tooSmall(issue), value: input };
    case 'too_big':
      return { message: `must be at most ${String(issue.maximum)}`, value: input };
    case 'invalid_value':
      return { message: `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`, value: input };
    case 'invalid_union':
      return describeUnion(issue);
    case 'invalid_key':
      return { message: issue.issues[0]?.message ?? issue.message, value: input };
    case 'custom':
      return describeCustom(issue);
    default:
      return { message: issue.message, value: input };
  }
}

function tooSmall(issue: z.core.$ZodIssueTooSmall): string {
  const min = String(issue.minimum);
  if (issue.origin === 'string') return 'must not be empty';
  if (issue.origin === 'array') return `must list at least ${min} entr${min === '1' ? 'y' : 'ies'}`;
  return issue.inclusive ? `must be at least ${min}` : `must be greater than ${min}`;
}

/** The only union in the schema is a discriminated one: `[checks.<name>] type`. */
function describeUnion(issue: z.core.$ZodIssueInvalidUnion): { message: string; value?: unknown } {
  const discriminator = issue.discriminator;
  const noMatch = 'options' in issue ? issue : undefined;
  if (!noMatch || discriminator === undefined || typeof issue.input !== 'object' || issue.input === null) {
    return { message: issue.message, value: issue.input };
  }
  const value = (issue.input as Record<string, unknown>)[discriminator];
  const options = (noMatch.options ?? []).map((o) => JSON.stringify(o)).join(', ');
  if (value === undefined) return { message: `is required (one of ${options})` };
  return { message: `must be one of ${options}`, value };
}

function describeCustom(issue: z.core.$ZodIssueCustom): { message: string; value?: unknown } {
  return { message: issue.message, value: issue.input };
}

/** True for the issue a table raises for a key it does not know (see ./schema-parts.ts). */
export function isUnknownKeyIssue(issue: Issue): issue is z.core.$ZodIssueCustom {
  return issue.code === 'custom' && Array.isArray(issue.params?.[UNKNOWN_KEY]);
}

/**
 * An unknown key is a warning, never an error: Fly deploys files with keys it does not know, so a
 * newer fly.toml must not stop hangar. The hint names a known key only when it is the same key
 * misspelt (see `spellingVariant`).
 */
export function unknownKeyWarning(issue: z.core.$ZodIssueCustom): ConfigWarning {
  const known = issue.params?.[UNKNOWN_KEY] as string[];
  const path = formatPath(issue.path);
  const key = String(issue.path[issue.path.length - 1]);
  const guess = spellingVariant(key, known);
  const hint = guess ? ` (did you mean "${guess}"?)` : '';
  return { path, message: `unknown key "${key}" is ignored${hint}` };
}

/** Case and separators do not change a key's meaning: `build_target` is `build-target`, `Memory_MB` is `memory_mb`. */
const canonical = (key: string): string => key.toLowerCase().replace(/[-_\s]/g, '');

/**
 * Words that mean something by themselves in a key: a slip that produces one (`memory_gb` for
 * `memory_mb`, `max_machines_running` for `min_…`) is another key, not a misspelling.
 */
const MEANINGFUL = new Set(['b', 'kb', 'mb', 'gb', 'tb', 'kib', 'mib', 'gib', 'ms', 'us', 'ns', 's', 'm', 'h', 'min', 'max', 'soft', 'hard', 'start', 'end', 'read', 'write', 'on', 'off', 'in', 'out']);

const words = (key: string): string[] => key.toLowerCase().split(/[-_\s]+/);

/**
 * The known key `word` is a misspelling of, if there is exactly one: the same key with other case or
 * separators, or one slip of the keyboard (a letter added, dropped, replaced or two swapped) in one
 * word of it. A slip that yields a word with its own meaning (a unit, min/max, a word of another key
 * in the table), a plural or singular (`port` / `ports`) or a different first letter (`cpus` / `gpus`)
 * points to a different key, so it gets no hint.
 */
export function spellingVariant(word: string, candidates: readonly string[]): string | undefined {
  const w = canonical(word);
  const same = candidates.filter((c) => canonical(c) === w);
  if (same.length > 0) return same.length === 1 ? same[0] : undefined;
  const vocabulary = new Set([...MEANINGFUL, ...candidates.flatMap(words)]);
  const slips = candidates.filter((c) => isSlip(words(word), words(c), vocabulary));
  return slips.length === 1 ? slips[0] : undefined;
}

function isSlip(typed: string[], known: string[], vocabulary: Set<string>): boolean {
  if (typed.length !== known.length) return false;
  const differ = typed.flatMap((t, i) => (t === known[i] ? [] : [[t, known[i]!] as const]));
  if (differ.length !== 1) return false;
  const [a, b] = differ[0]!;
  if (vocabulary.has(a) || Math.min(a.length, b.length) < 3 || a[0] !== b[0]) return false;
  if (a === `${b}s` || b === `${a}s`) return false;
  return optimalStringAlignment(a, b) === 1;
}

/** Edit distance where swapping two neighbouring letters counts as one edit. */
function optimalStringAlignment(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest of the candidates within edit distance 2, if exactly one is closest (for process group names). */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  let tie = false;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance, tie] = [c, d, false];
    else if (d === bestDistance) tie = true;
  }
  return tie ? undefined : best;
}

/** Levenshtein distance, one row at a time: keys are short, so this is cheap. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, substitution));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** One error for the whole file: "hangar.toml has 3 problems:" then the first few, one per line. */
export function problemsError(fileName: string, details: ErrorDetail[]): ValidationError {
  const count = details.length;
  const lines = details.slice(0, LISTED_IN_MESSAGE).map((d, i) => `  ${i + 1}. ${formatDetail(d)}`);
  if (count > LISTED_IN_MESSAGE) lines.push(`  …and ${count - LISTED_IN_MESSAGE} more`);
  const header = `${fileName} has ${count} problem${count === 1 ? '' : 's'}:`;
  return new ValidationError([header, ...lines].join('\n'), details, `fix ${fileName} and run the command again`);
}

function formatDetail(d: ErrorDetail): string {
  const where = d.path === '' ? '(top level)' : d.path;
  return d.value === undefined ? `${where}: ${d.message}` : `${where}: ${d.message} (got ${showValue(d.value)})`;
}

function showValue(v: unknown): string {
  const s = v instanceof Date ? v.toISOString() : JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
