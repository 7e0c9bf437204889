import type { Db } from './db.js';

/** A dashboard session as stored: keyed by the hash of its cookie, never the cookie itself. */
export interface StoredSession {
  sessionHash: string;
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * The dashboard's sign-ins. Codes and sessions are stored by their SHA-256 only, so the database alone
 * lets nobody in. They live with the rest of the state: a session outlives a daemon restart, and in a
 * cluster any node recognises it.
 */
export class DashboardRepo {
  constructor(private readonly db: Db) {}

  async addCode(codeHash: string, expiresAt: number): Promise<void> {
    await this.db.insertInto('dashboard_codes').values({ code_hash: codeHash, expires_at: expiresAt }).execute();
  }

  /** Takes a code: true once, if it exists and has not expired; it is gone afterwards either way. */
  async redeemCode(codeHash: string, now: number): Promise<boolean> {
    const r = await this.db.deleteFrom('dashboard_codes').where('code_hash', '=', codeHash).where('expires_at', '>', now).executeTakeFirst();
    if (Number(r.numDeletedRows) > 0) return true;
    await this.db.deleteFrom('dashboard_codes').where('code_hash', '=', codeHash).execute();
    return false;
  }

  async addSession(s: StoredSession): Promise<void> {
    await this.db.insertInto('dashboard_sessions').values({ session_hash: s.sessionHash, csrf: s.csrf, created_at: s.createdAt, expires_at: s.expiresAt }).execute();
  }

  /** A session that has not expired. */
  async session(sessionHash: string, now: number): Promise<StoredSession | undefined> {
    const r = await this.db.selectFrom('dashboard_sessions').selectAll().where('session_hash', '=', sessionHash).where('expires_at', '>', now).executeTakeFirst();
    return r && { sessionHash: r.session_hash, csrf: r.csrf, createdAt: r.created_at, expiresAt: r.expires_at };
  }

  async removeSession(sessionHash: string): Promise<void> {
    await this.db.deleteFrom('dashboard_sessions').where('session_hash', '=', sessionHash).execute();
  }

  /** Forgets expired codes and sessions. */
  async prune(now: number): Promise<void> {
    await this.db.deleteFrom('dashboard_codes').where('expires_at', '<=', now).execute();
    await this.db.deleteFrom('dashboard_sessions').where('expires_at', '<=', now).execute();
  }
}
