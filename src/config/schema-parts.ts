/**
 * Building blocks shared by the config schemas: tables that report unknown keys one by one, values
 * TOML can spell several ways (durations, commands, scalars in `[env]`), and the common number types.
 */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { toArgv } from './command.js';

/** Marks the custom issue raised for a key no schema knows; ./load.ts turns it into a warning. */
export const UNKNOWN_KEY = 'hangar_unknown_key';

/**
 * An object schema whose unknown keys are reported one issue per key (so each gets its own path),
 * carrying the known keys for suggestions. zod's strict mode would report them all on the parent.
 */
export function table<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  const unknownKey = z.unknown().check((ctx) => {
    ctx.issues.push({ code: 'custom', message: 'unknown key', params: { [UNKNOWN_KEY]: known }, input: ctx.value });
  });
  return z.object(shape).catchall(unknownKey);
}

/**
 * A value that TOML can spell several ways (a duration as "5s" or 5, a boolean for an enum). One
 * custom issue with a message naming what is accepted beats zod's generic union failure.
 */
export function convert<T>(expected: string, fn: (v: unknown) => T | undefined) {
  return z.unknown().transform((v, ctx): T => {
    const out = v === undefined ? undefined : fn(v);
    if (out !== undefined) return out;
    ctx.issues.push({ code: 'custom', message: v === undefined ? 'is required' : `expected ${expected}`, input: v });
    return z.NEVER;
  });
}

/**
 * Milliseconds. ./durations.ts has already turned bare numbers into unit strings with each key's Fly
 * unit (and a warning); a number that still gets here is read as seconds.
 */
export const duration = convert('a duration such as "500ms", "5s", "2m", "1h30m"', parseDuration);

/** fly turns TOML numbers and booleans in `[env]` into strings rather than rejecting them. */
export const scalarString = convert('a string, number or boolean', (v) => {
  const ok = typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
  return ok ? String(v) : undefined;
});
export const stringMap = z.record(z.string(), scalarString);

export const nonEmpty = z.string().min(1);
export const port = z.number().int().min(1).max(65535);
export const positiveInt = z.number().int().min(1);
export const groupList = z.array(nonEmpty).min(1);

/** A command as argv: a string is split like `[processes]` commands, an array is taken as is. */
export const argv = convert('a non-empty command string or a non-empty array of strings', toArgv);
