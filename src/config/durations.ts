/**
 * Bare numbers in duration keys. flyctl reads `kill_timeout = 5` as seconds but check timings
 * (`interval = 10000` in `[[services.http_checks]]`, `[[services.tcp_checks]]`, `[checks.<name>]`) as
 * milliseconds, so a copied fly.toml would be off by a factor of a thousand if one unit applied to
 * all. Each key gets its Fly unit here; the number becomes a unit string before the schema sees it,
 * with a warning that a unit string is clearer. Where flyctl reads an empty string as unset
 * (kill_timeout, the timings of service checks and `[checks.*]`), so does hangar.
 */
import { formatDuration } from '../core/duration.js';
import { tablesAt, joinPath, type Tree } from './tree.js';
import type { ConfigWarning } from './types.js';

type Unit = 's' | 'ms';

const CHECK_TIMING = ['interval', 'timeout', 'grace_period'];

interface Rule {
  at: string;
  keys: readonly string[];
  unit: Unit;
  /** flyctl reads `""` here as unset rather than failing on it. */
  blankIsUnset?: boolean;
  /** flyctl does not convert bare numbers here: it would read nanoseconds. */
  flyReadsNanoseconds?: boolean;
}

/**
 * Where a bare number is read in which unit. Milliseconds where flyctl converts them so (the timings
 * of `[[services.*_checks]]` and `[checks.*]`), and in `[[http_service.checks]]`, which flyctl leaves
 * as nanoseconds but files write in the milliseconds of the other checks. Seconds for kill_timeout, as
 * flyctl reads it. For the other keys flyctl would take a bare number as nanoseconds, which no file
 * means, so hangar reads seconds.
 */
const BARE_NUMBER_UNITS: readonly Rule[] = [
  { at: '', keys: ['kill_timeout'], unit: 's', blankIsUnset: true },
  { at: 'deploy', keys: ['wait_timeout', 'release_command_timeout', 'max_machine_age'], unit: 's' },
  { at: 'deploy.canary', keys: ['step_interval', 'latency_floor'], unit: 's' },
  { at: 'http_service', keys: ['hold_timeout', 'idle_timeout'], unit: 's' },
  { at: 'http_service.checks[]', keys: CHECK_TIMING, unit: 'ms', flyReadsNanoseconds: true },
  { at: 'services[].http_checks[]', keys: CHECK_TIMING, unit: 'ms', blankIsUnset: true },
  { at: 'services[].tcp_checks[]', keys: CHECK_TIMING, unit: 'ms', blankIsUnset: true },
  { at: 'checks.*', keys: CHECK_TIMING, unit: 'ms', blankIsUnset: true },
  { at: 'http_service.machine_checks[]', keys: ['kill_timeout'], unit: 's' },
  { at: 'services[].machine_checks[]', keys: ['kill_timeout'], unit: 's' },
];

const NUMERIC = /^\d+(?:\.\d+)?$/;

/**
 * Rewrites bare-number durations in place (the tree is the loader's own copy) and drops empty ones
 * where flyctl reads `""` as unset; warns once per key.
 */
export function unitBareDurations(tree: Tree): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  for (const rule of BARE_NUMBER_UNITS) {
    for (const { table, path } of tablesAt(tree, rule.at)) {
      for (const key of rule.keys) rewrite(table, key, joinPath(path, key), rule, warnings);
    }
  }
  return warnings;
}

function rewrite(table: Tree, key: string, path: string, rule: Rule, warnings: ConfigWarning[]): void {
  const value = table[key];
  if (rule.blankIsUnset && value === '') {
    delete table[key];
    warnings.push({ path, message: 'an empty duration is unset, as flyctl reads it; the default applies' });
    return;
  }
  const ms = bareMs(value, rule.unit);
  if (ms === undefined) return;
  warnings.push(bareWarning(path, value, rule, ms));
  table[key] = `${ms}ms`;
}

function bareMs(value: unknown, unit: Unit): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && NUMERIC.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) return undefined;
  return Math.round(unit === 's' ? n * 1000 : n);
}

function bareWarning(path: string, value: unknown, rule: Rule, ms: number): ConfigWarning {
  const written = typeof value === 'string' ? JSON.stringify(value) : String(value);
  // formatDuration rounds to whole seconds past 1s; a suggestion must keep the exact value.
  const clear = ms % 1000 === 0 ? formatDuration(ms) : `${ms}ms`;
  const read = rule.unit === 's' ? `${written} seconds` : `${written} milliseconds (${clear}), ${msSource(rule)}`;
  return { path, message: `the bare number ${written} is read as ${read}; write "${clear}" to make the unit plain` };
}

function msSource(rule: Rule): string {
  if (!rule.flyReadsNanoseconds) return 'as Fly reads a bare number in a check';
  return 'as in [[services.http_checks]] (flyctl would read nanoseconds here, which Fly raises to 1s)';
}
