/**
 * Error families. A `UserError` is something the user can fix: it carries a stable `code`, a one-line
 * message, an optional `hint` (which flag or key to change), optional per-field `details` and, when it
 * was made from a caught error, that error as its `cause`. Anything else that escapes is a bug. HTTP
 * status mapping lives in one place: `httpStatusFor`.
 */

export interface ErrorDetail {
  /** Dotted path of the offending field, e.g. `services[0].internal_port`. */
  path: string;
  message: string;
  /** The bad value, when it is safe to echo back. */
  value?: unknown;
}

export type UserErrorKind =
  | 'invalid'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'precondition'
  | 'unavailable'
  | 'timeout';

export class UserError extends Error {
  readonly code: string;
  readonly kind: UserErrorKind;
  readonly hint?: string;
  readonly details: ErrorDetail[];

  /** `cause` is the error this one was made from (kept as the standard `Error.cause`, shown in the daemon log). */
  constructor(opts: { code: string; message: string; kind?: UserErrorKind; hint?: string; details?: ErrorDetail[]; cause?: unknown }) {
    super(opts.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'UserError';
    this.code = opts.code;
    this.kind = opts.kind ?? 'invalid';
    this.hint = opts.hint;
    this.details = opts.details ?? [];
  }
}

export class ValidationError extends UserError {
  constructor(message: string, details: ErrorDetail[], hint?: string) {
    super({ code: 'invalid_input', kind: 'invalid', message, details, hint });
  }
}

export class NotFoundError extends UserError {
  constructor(what: string, id: string, hint?: string) {
    super({ code: `${what}_not_found`, kind: 'not_found', message: `${what} ${JSON.stringify(id)} not found`, hint });
  }
}

export class ConflictError extends UserError {
  constructor(code: string, message: string, hint?: string) {
    super({ code, kind: 'conflict', message, hint });
  }
}

export class PreconditionError extends UserError {
  constructor(code: string, message: string, hint?: string) {
    super({ code, kind: 'precondition', message, hint });
  }
}

/**
 * A runtime (a process group, the Docker Engine) could not carry out what a machine operation asked of
 * it, for a reason the caller cannot fix: answered as a bug (500), with the runtime's error as its
 * `cause`. The machine was put back in the state its instance is really in before this was thrown.
 */
export class RuntimeFailure extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'RuntimeFailure';
  }
}

export function httpStatusFor(kind: UserErrorKind): number {
  switch (kind) {
    case 'invalid':
      return 400;
    case 'unauthorized':
      return 401;
    case 'forbidden':
      return 403;
    case 'not_found':
      return 404;
    case 'conflict':
      return 409;
    case 'precondition':
      return 412;
    case 'timeout':
      return 408;
    case 'unavailable':
      return 503;
    default:
      return assertNever(kind);
  }
}

export function kindForStatus(status: number): UserErrorKind {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 412) return 'precondition';
  if (status === 408) return 'timeout';
  if (status === 503) return 'unavailable';
  return 'invalid';
}

export function assertNever(x: never): never {
  throw new Error(`unexpected value: ${JSON.stringify(x)}`);
}

export function isUserError(err: unknown): err is UserError {
  return err instanceof UserError;
}
