import pg from 'pg';
import { sql } from 'kysely';
import type { Db } from './db.js';

/**
 * What changed, as one node tells the others: a machine, its health or check results, an app, a deploy,
 * a host, or a TLS certificate (`{ hostname }`: issued, imported, added or removed; see certs/).
 */
export type FeedTopic = 'machine' | 'health' | 'checks' | 'app' | 'deploy' | 'host' | 'cert';

export interface FeedMessage {
  topic: FeedTopic;
  /** The host whose node sent it. */
  from: string;
  /** The topic's own fields (ids, states); always small, never a whole row. */
  body: Record<string, unknown>;
}

/**
 * How nodes hear of each other's changes. On PostgreSQL: NOTIFY on one channel, LISTEN on a dedicated
 * connection that reconnects by itself; after a reconnect `onResync` runs, since what was sent while
 * the connection was down is lost. On SQLite there is one node, and nothing to hear.
 */
export interface ChangeFeed {
  publish(topic: FeedTopic, body: Record<string, unknown>): void;
  start(onMessage: (m: FeedMessage) => void, onResync: () => void): Promise<void>;
  stop(): Promise<void>;
}

const CHANNEL = 'hangar_changes';

export class NoFeed implements ChangeFeed {
  publish(): void {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export class PgFeed implements ChangeFeed {
  private client?: pg.Client;
  private stopped = false;
  private retry?: NodeJS.Timeout;

  constructor(private readonly deps: { db: Db; url: string; hostId: () => string; onError: (err: unknown) => void }) {}

  publish(topic: FeedTopic, body: Record<string, unknown>): void {
    const payload = JSON.stringify({ topic, from: this.deps.hostId(), body });
    // A lost notification is repaired by the periodic resync; it never fails the change itself.
    sql`select pg_notify(${CHANNEL}, ${payload})`.execute(this.deps.db).catch((err) => this.deps.onError(err));
  }

  async start(onMessage: (m: FeedMessage) => void, onResync: () => void): Promise<void> {
    await this.connect(onMessage, onResync, false);
  }

  private async connect(onMessage: (m: FeedMessage) => void, onResync: () => void, resync: boolean): Promise<void> {
    const client = new pg.Client({ connectionString: this.deps.url });
    const lost = () => {
      if (this.stopped || this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.schedule(onMessage, onResync);
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      try {
        onMessage(JSON.parse(n.payload) as FeedMessage);
      } catch (err) {
        this.deps.onError(err);
      }
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      this.client = undefined;
      client.end().catch(() => undefined);
      throw err;
    }
    if (resync) onResync();
  }

  /** Reconnects every 500 ms until it works or the feed stops. */
  private schedule(onMessage: (m: FeedMessage) => void, onResync: () => void): void {
    if (this.stopped) return;
    this.retry = setTimeout(() => void this.connect(onMessage, onResync, true).catch(() => this.schedule(onMessage, onResync)), 500);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
