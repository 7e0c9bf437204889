import pg from 'pg';
import { setTimeout as delay } from 'node:timers/promises';
import { isConnectionLoss } from './pg-errors.js';

/** How long an operation waits for PostgreSQL to come back before it fails (default: one minute). */
export const DEFAULT_DB_WAIT_MS = 60_000;

/**
 * A pg pool that rides out a database restart: acquiring a connection while the server is down waits
 * and retries (the operation pauses instead of failing), and a statement that loses its connection
 * outside a transaction is sent again on a fresh one. A statement inside a transaction is never
 * re-sent: the transaction fails as a whole and nothing of it is written.
 */
export class ResilientPool {
  private readonly pool: pg.Pool;
  private readonly waitMs: number;
  private ended = false;

  constructor(config: pg.PoolConfig, opts: { waitMs?: number } = {}) {
    this.pool = new pg.Pool(config);
    this.waitMs = opts.waitMs ?? DEFAULT_DB_WAIT_MS;
    // An idle connection dropped by a restarting server must not crash the daemon; the pool discards it.
    this.pool.on('error', () => undefined);
  }

  /** One attempt, no waiting: used at start, where an unreachable database is a clear error at once. */
  connectOnce(): Promise<pg.PoolClient> {
    return this.pool.connect();
  }

  /** The connection Kysely uses for one query or one transaction. */
  async connect(): Promise<ResilientClient> {
    return new ResilientClient(await this.acquire(), () => this.acquire(), this.waitMs);
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.pool.end();
  }

  private async acquire(): Promise<pg.PoolClient> {
    const until = Date.now() + this.waitMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.connect();
      } catch (err) {
        if (this.ended || !isConnectionLoss(err) || Date.now() >= until) throw err;
        await delay(Math.min(1000, 50 * 2 ** attempt));
      }
    }
  }
}

/** A pooled client that knows whether a transaction is open, so it can tell when a re-send is safe. */
class ResilientClient {
  private inTransaction = false;
  /** Undefined after a lost connection was handed back and no new one could be had. */
  private client: pg.PoolClient | undefined;
  // pg's pool stops listening for a client's errors while it is checked out: a connection that drops
  // between two statements (a transaction waiting on its caller) would emit an unhandled 'error' and end
  // the process. The loss is reported anyway, by the next query on this client.
  private readonly ignore = () => undefined;

  constructor(
    client: pg.PoolClient,
    private readonly reacquire: () => Promise<pg.PoolClient>,
    private readonly waitMs: number,
  ) {
    this.attach(client);
  }

  async query(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    const verb = /^\s*(\w+)/.exec(text)?.[1]?.toLowerCase();
    const until = Date.now() + this.waitMs;
    for (;;) {
      try {
        if (!this.client) this.attach(await this.reacquire());
        const r = await this.client!.query(text, values);
        this.track(verb);
        return r;
      } catch (err) {
        // Again and again if need be: right after a crash the pool may still hand out idle connections
        // that died with the server and have not noticed yet.
        const resend = !this.inTransaction && verb !== 'commit' && verb !== 'rollback' && isConnectionLoss(err) && Date.now() < until;
        if (!resend) {
          this.track(verb, true);
          throw err;
        }
        this.detach(err as Error);
      }
    }
  }

  release(): void {
    this.detach();
  }

  private attach(client: pg.PoolClient): void {
    client.on('error', this.ignore);
    this.client = client;
  }

  private detach(err?: Error): void {
    const c = this.client;
    this.client = undefined;
    c?.removeListener('error', this.ignore);
    c?.release(err);
  }

  private track(verb: string | undefined, failed = false): void {
    if (verb === 'begin' || verb === 'start') this.inTransaction = !failed;
    else if (verb === 'commit' || verb === 'rollback') this.inTransaction = false;
  }
}
