import { UserError, type ErrorDetail } from '../core/errors.js';

/**
 * What a secret may be. Values become process environment, so the limits follow the OS: Linux refuses
 * a single `NAME=VALUE` string over 128 KiB and an environment over a few MiB (the start would then fail
 * with E2BIG on every machine), so each value and each app's total are capped well below that.
 */
export const SECRET_LIMITS = {
  valueBytes: 64 * 1024,
  perApp: 100,
  totalBytes: 1024 * 1024,
  nameLength: 256,
} as const;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by the platform on every machine; a secret by these names would be silently overridden. */
const RESERVED_PREFIXES = ['FLY_', 'HANGAR_'];
const RESERVED_NAMES = new Set(['PORT', 'PRIMARY_REGION', 'RELEASE_COMMAND']);

/** One hint per kind of problem: which rule to follow, or what to do instead. */
const HINTS = {
  invalid_input: 'e.g. hangar secrets set DATABASE_URL=postgres://…',
  invalid_secret: 'names are letters, digits and _, not starting with a digit (e.g. DATABASE_URL); FLY_*, HANGAR_*, PORT, PRIMARY_REGION and RELEASE_COMMAND are set by hangar; a value is text up to 64 KiB (keep bigger data in a file and put its location in a secret)',
  secret_not_found: 'see the names with: hangar secrets list',
  secrets_limit_exceeded: 'an app holds at most 100 secrets and 1 MiB of them: unset the ones it no longer needs (hangar secrets unset NAME)',
} as const;

/** Why `name` cannot be a secret's name, if it cannot. */
export function nameProblem(name: string): string | undefined {
  if (name === '') return 'a secret name is empty';
  if (name.length > SECRET_LIMITS.nameLength) return `secret name ${name.slice(0, 32)}… is longer than ${SECRET_LIMITS.nameLength} characters`;
  if (!NAME.test(name)) return `secret name ${JSON.stringify(name)} is not a valid environment variable name`;
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix) return `secret name ${name} starts with ${prefix}, which is reserved for variables hangar sets`;
  if (RESERVED_NAMES.has(name)) return `secret name ${name} is reserved: hangar sets ${name} on every machine`;
  return undefined;
}

/** Why `value` cannot be stored; never quotes the value. */
export function valueProblem(name: string, value: string): string | undefined {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > SECRET_LIMITS.valueBytes) return `the value of ${name} is ${bytes} bytes; the limit is ${SECRET_LIMITS.valueBytes} (64 KiB)`;
  if (value.includes('\0')) return `the value of ${name} contains a NUL byte, which an environment variable cannot hold`;
  return undefined;
}

export interface SecretChange {
  set: Record<string, string>;
  unset: string[];
}

type Problem = ErrorDetail & { code: keyof typeof HINTS };

/**
 * Checks a change against the app's current secrets (name → value bytes). Every problem is reported at
 * once, each with its path; none of them quotes a value.
 */
export function checkChange(change: SecretChange, current: ReadonlyMap<string, number>): void {
  const problems: Problem[] = [];
  const setNames = Object.keys(change.set);
  if (setNames.length === 0 && change.unset.length === 0) problems.push({ code: 'invalid_input', path: 'set', message: 'nothing to set or unset' });
  for (const name of setNames) {
    const message = nameProblem(name) ?? valueProblem(name, change.set[name]!);
    if (message) problems.push({ code: 'invalid_secret', path: `set.${name}`, message });
  }
  for (const name of change.unset) {
    if (Object.hasOwn(change.set, name)) problems.push({ code: 'invalid_secret', path: `unset.${name}`, message: `${name} is both set and unset` });
    else if (!current.has(name)) problems.push({ code: 'secret_not_found', path: `unset.${name}`, message: `there is no secret ${name}` });
  }
  if (problems.length === 0) problems.push(...limitProblems(change, current));
  if (problems.length === 0) return;
  const codes = new Set(problems.map((p) => p.code));
  const code = codes.size === 1 ? problems[0]!.code : 'invalid_secret';
  throw new UserError({
    code,
    kind: code === 'secret_not_found' ? 'not_found' : 'invalid',
    message: problems.length === 1 ? problems[0]!.message : `${problems.length} problems with these secrets`,
    // One problem is the message itself; repeating it as a detail would print it twice.
    details: problems.length === 1 ? [] : problems.map(({ path, message }) => ({ path, message })),
    hint: HINTS[code],
  });
}

function limitProblems(change: SecretChange, current: ReadonlyMap<string, number>): Problem[] {
  const after = new Map(current);
  for (const n of change.unset) after.delete(n);
  for (const [n, v] of Object.entries(change.set)) after.set(n, Buffer.byteLength(v, 'utf8'));
  const out: Problem[] = [];
  if (after.size > SECRET_LIMITS.perApp) out.push({ code: 'secrets_limit_exceeded', path: 'set', message: `the app would have ${after.size} secrets; the limit is ${SECRET_LIMITS.perApp} per app` });
  const total = [...after].reduce((n, [k, v]) => n + k.length + 1 + v, 0);
  if (total > SECRET_LIMITS.totalBytes) out.push({ code: 'secrets_limit_exceeded', path: 'set', message: `the app's secrets would take ${total} bytes; the limit is ${SECRET_LIMITS.totalBytes} (1 MiB) per app` });
  return out;
}
