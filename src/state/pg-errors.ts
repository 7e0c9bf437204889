import { UserError } from '../core/errors.js';

/** Errors that mean "the server is not there right now" (refused, reset, shutting down, starting up). */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOENT', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004'].includes(e.code)) return true;
  return /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(e.message ?? '');
}

/** A database URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparseable database URL)';
  }
}

/** Why a node could not open its PostgreSQL database, as one line with what to change. */
export function postgresProblem(err: unknown, url: string): UserError {
  const e = err as { code?: string; message?: string };
  const where = redactUrl(url);
  const hint = 'check --database (or HANGAR_DATABASE_URL) and that PostgreSQL is running and reachable from this host';
  const make = (code: string, message: string, h = hint) => new UserError({ code, kind: 'unavailable', message, hint: h, cause: err });
  switch (e.code) {
    case '28P01':
    case '28000':
      return make('state_auth_failed', `PostgreSQL refused the credentials in ${where}: ${e.message}`, 'check the user and password in --database (or HANGAR_DATABASE_URL)');
    case '3D000':
      return make('state_database_missing', `${e.message} (${where})`, 'create it first, for example: createdb -O USER DBNAME');
    case 'ECONNREFUSED':
      return make('state_unreachable', `cannot reach PostgreSQL at ${where}: connection refused`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make('state_unreachable', `cannot reach PostgreSQL at ${where}: the host name does not resolve`);
    default:
      if (isConnectionLoss(err)) return make('state_unreachable', `cannot reach PostgreSQL at ${where}: ${e.message ?? e.code}`);
      return make('state_unavailable', `cannot open PostgreSQL database ${where}: ${e.message ?? String(err)}`);
  }
}
