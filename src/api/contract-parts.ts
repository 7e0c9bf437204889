import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { NAME_PATTERN } from '../core/ids.js';

/**
 * Building blocks of the API's request schemas. Each one is exactly as strict as the daemon: what its
 * JSON Schema (in the OpenAPI document) calls valid is accepted, and the other way round, except for
 * the range of a duration written as a string, which a pattern cannot say; the range is in the
 * description and in `x-duration-ms`.
 */

/** A duration string as `parseDuration` reads it: a number of seconds, or parts such as `1h30m`, `500ms`. */
export const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?|(?:\d+(?:\.\d+)?(?:ms|s|m|h))+)$/;

/** Timers past 2^31-1 ms fire at once, so no duration the daemon waits on may be longer than a day. */
export const MAX_DURATION_MS = 24 * 3_600_000;

const describeMs = (ms: number) => (ms === 0 ? '0s' : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/**
 * A duration in [minMs, maxMs]: a string ("5s", "2m", "1h30m", "500ms", or "30" for seconds) or a
 * number of seconds. Normalised to a string, as machine configs store them.
 */
export function duration(minMs = 0, maxMs = MAX_DURATION_MS) {
  const range = `between ${describeMs(minMs)} and ${describeMs(maxMs)}`;
  const message = `expected a duration ${range}, such as "5s", "2m" or a number of seconds`;
  return z
    .union([z.string().regex(DURATION_PATTERN, { abort: true }), z.number().min(minMs / 1000, { abort: true }).max(maxMs / 1000, { abort: true })], { error: message })
    .refine((v) => inRange(parseDuration(v), minMs, maxMs), { message })
    .transform((v) => (typeof v === 'number' ? `${v}s` : v))
    .meta({ description: `A duration ${range}: a string such as "500ms", "5s", "2m", "1h30m", or a number of seconds`, 'x-duration-ms': { minimum: minMs, maximum: maxMs } });
}

/** A duration in a query string: always a string there. */
export function queryDuration(minMs: number, maxMs: number) {
  const range = `between ${describeMs(minMs)} and ${describeMs(maxMs)}`;
  const message = `expected a duration ${range}, such as "30s" or "5m"`;
  return z
    .string()
    .regex(DURATION_PATTERN, { message, abort: true })
    .refine((v) => inRange(parseDuration(v), minMs, maxMs), { message })
    .meta({ description: `A duration ${range}, such as "500ms", "30s", "5m" or a number of seconds`, 'x-duration-ms': { minimum: minMs, maximum: maxMs } });
}

function inRange(ms: number | undefined, min: number, max: number): boolean {
  return ms !== undefined && ms >= min && ms <= max;
}

/**
 * A whole number in a query string, in [min, max]. Only plain decimal digits count (zod's coercion
 * would also take "", "0x10" and "1e3", which the document calls invalid).
 */
export function queryInt(min: number, max: number) {
  return z
    .string()
    .transform((v, ctx) => {
      if (/^-?\d+$/.test(v)) return Number(v);
      ctx.addIssue({ code: 'custom', message: 'expected a whole number', input: v });
      return z.NEVER;
    })
    .pipe(z.number().int().min(min).max(max))
    // What the document says the parameter is (the string form above is how it travels).
    .meta({ type: 'integer', minimum: min, maximum: max });
}

/** `true` or `false` in a query string. */
export const queryBool = z.enum(['true', 'false']);

/** A comma-separated list of values from `values`, e.g. `started,stopped` (`what` names them in the message). */
export function csvOf(values: readonly string[], what: string) {
  const one = `(?:${values.map(escapeRegex).join('|')})`;
  return z.string().regex(new RegExp(`^${one}(?:,${one})*$`), `${what} are: ${values.join(', ')}`);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** App names, as the daemon creates them (and so as every `{app}` in a path must be). */
export const appName = z
  .string()
  .regex(NAME_PATTERN, { message: 'app names use lowercase letters, digits and dashes, start with a letter, and have at most 63 characters', abort: true })
  .max(63);

/** A machine id: 14 lowercase hex digits (names and prefixes are resolved by the CLI, not here). */
export const MACHINE_ID_PATTERN = /^[0-9a-f]{14}$/;
export const machineId = z.string().regex(MACHINE_ID_PATTERN, { message: 'a machine id: 14 lowercase hex digits', abort: true }).length(14);

/** A deployment id: a ULID. */
export const DEPLOYMENT_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
export const deploymentId = z.string().regex(DEPLOYMENT_ID_PATTERN, { message: 'a deployment id (a ULID, 26 characters)', abort: true }).length(26);

/** The longest path segment the router takes (longer ones answer 414); the longest image reference fits. */
export const MAX_PARAM_LENGTH = 1024;

/** An image by tag, `app:tag`, full reference or digest, as one path segment (encoded). */
export const imageRefParam = z.string().min(1).max(512);

/** A query string that takes no parameters: an unknown one is refused, naming it. */
export const NoQuery = z.object({}).strict();
