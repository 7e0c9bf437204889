import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UserError } from '../core/errors.js';
import type { DashboardRepo } from '../state/dashboard-repo.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'hangar_session';
/** The header every mutating request of a session carries (the session's CSRF token). */
export const CSRF_HEADER = 'x-csrf-token';

export interface DashboardAuthOptions {
  /** How long a login code can be redeemed (default 5 minutes). */
  codeTtlMs?: number;
  /** How long a session lasts from sign-in (default 24 hours). */
  sessionTtlMs?: number;
  now?: () => number;
}

/** A live session: what the API checks a cookie-authenticated request against. */
export interface DashboardSession {
  hash: string;
  csrf: string;
  expiresAt: number;
}

/** A new session: the cookie's value (given to the browser once) and its CSRF token. */
export interface SignedIn extends DashboardSession {
  secret: string;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * Sign-in to the dashboard. `hangar dashboard` asks for a one-time code (the API token proves who asks);
 * the browser trades the code, or the API token itself, for a session cookie. The cookie is HttpOnly
 * and SameSite=Strict, and a session's mutating requests must also carry its CSRF token.
 */
export class DashboardAuth {
  private readonly codeTtlMs: number;
  private readonly sessionTtlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly repo: DashboardRepo,
    private readonly token: string,
    opts: DashboardAuthOptions = {},
  ) {
    this.codeTtlMs = opts.codeTtlMs ?? 5 * 60_000;
    this.sessionTtlMs = opts.sessionTtlMs ?? 24 * 3600_000;
    this.now = opts.now ?? Date.now;
  }

  /** A code for one sign-in, valid for a few minutes. */
  async newCode(): Promise<{ code: string; expiresAt: number }> {
    const code = secret(18);
    const expiresAt = this.now() + this.codeTtlMs;
    await this.repo.addCode(hash(code), expiresAt);
    return { code, expiresAt };
  }

  /** Trades a login code (once) or the API token for a session. */
  async signIn(given: { code?: string; token?: string }): Promise<SignedIn> {
    const now = this.now();
    const ok = given.code ? await this.repo.redeemCode(hash(given.code.trim()), now) : given.token ? sameSecret(given.token.trim(), this.token) : false;
    if (!ok) {
      throw new UserError({
        code: 'login_failed',
        kind: 'unauthorized',
        message: given.code ? 'this login code is wrong, expired or already used' : given.token ? 'that is not the API token' : 'give a login code or the API token',
        hint: 'run `hangar dashboard` for a new login link, or paste the API token from $HANGAR_HOME/token',
      });
    }
    await this.repo.prune(now);
    const s = { secret: secret(32), csrf: secret(24), expiresAt: now + this.sessionTtlMs };
    await this.repo.addSession({ sessionHash: hash(s.secret), csrf: s.csrf, createdAt: now, expiresAt: s.expiresAt });
    return { ...s, hash: hash(s.secret) };
  }

  /** The session a request's cookies name, if it is still valid. */
  async session(cookieHeader: string | undefined): Promise<DashboardSession | undefined> {
    const value = cookieValue(cookieHeader, SESSION_COOKIE);
    if (!value) return undefined;
    const s = await this.repo.session(hash(value), this.now());
    return s && { hash: s.sessionHash, csrf: s.csrf, expiresAt: s.expiresAt };
  }

  async signOut(s: DashboardSession): Promise<void> {
    await this.repo.removeSession(s.hash);
  }

  /** Does a mutating request carry its session's CSRF token? */
  csrfMatches(s: DashboardSession, header: string | string[] | undefined): boolean {
    return typeof header === 'string' && sameSecret(header, s.csrf);
  }

  /** The Set-Cookie value for a new session, or (`undefined`) one that clears it. */
  cookie(s: SignedIn | undefined): string {
    const base = `${SESSION_COOKIE}=${s ? s.secret : ''}; Path=/; HttpOnly; SameSite=Strict`;
    return s ? `${base}; Max-Age=${Math.floor(this.sessionTtlMs / 1000)}` : `${base}; Max-Age=0`;
  }
}

/** Compares two secrets in constant time. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** One cookie's value from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

/** No session, or it ended. */
export function signedOut(): UserError {
  return new UserError({ code: 'session_ended', kind: 'unauthorized', message: 'not signed in to the dashboard, or the session has ended', hint: 'run `hangar dashboard` for a login link, or sign in with the API token' });
}
