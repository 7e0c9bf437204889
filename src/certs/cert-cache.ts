import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { CertStatus, StoredCertificate } from '../core/certificate.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { State } from '../state/index.js';
import { tlsKeyContext, type Sealer } from './sealing.js';

interface Entry {
  app: string;
  status: CertStatus;
  revision: number;
  /** Absent for a hostname without a usable certificate (pending, failed, or its key would not open). */
  context?: SecureContext;
  /** Its key did not open: tried again at every sync. */
  broken?: boolean;
  /** The chain and key the context was built from (for the proxy's worker processes). */
  pem?: { cert: string; key: string };
}

/**
 * Every hostname's app and TLS context, in memory, so a handshake never waits on the database. A
 * row is re-read when its revision moved; the entry is swapped only once the new context is built, so
 * the old certificate serves until then.
 */
export class CertCache {
  private readonly entries = new Map<string, Entry>();
  /** One read-and-build per hostname at a time, so an older row never replaces a newer one. */
  private readonly mutex = new KeyedMutex();
  /** The revision whose key problem was logged, per hostname: logged once, not at every sync. */
  private readonly reported = new Map<string, number>();

  constructor(private readonly deps: { state: State; sealer: Sealer; log: Logger; onChange?: () => void }) {}

  /** Every hostname with its app, and the certificate of those that have one. */
  pems(): Array<{ hostname: string; app: string; cert?: string; key?: string }> {
    return [...this.entries].map(([hostname, e]) => ({ hostname, app: e.app, ...e.pem }));
  }

  context(hostname: string): SecureContext | undefined {
    return this.entries.get(hostname)?.context;
  }

  app(hostname: string): string | undefined {
    return this.entries.get(hostname)?.app;
  }

  /** Re-reads one hostname: built anew if its row exists, dropped if not. */
  refresh(hostname: string): Promise<void> {
    return this.mutex.run(hostname, async () => {
      const row = await this.deps.state.certs.get(hostname);
      const before = this.entries.get(hostname);
      if (row) this.entries.set(hostname, await this.entryOf(row));
      else this.entries.delete(hostname);
      if (before?.revision !== this.entries.get(hostname)?.revision || before?.context !== this.entries.get(hostname)?.context) this.deps.onChange?.();
    });
  }

  /** Compares every revision with the database and re-reads what moved, appeared or went. */
  async sync(): Promise<void> {
    const revisions = await this.deps.state.certs.revisions();
    const stale = [...this.entries].filter(([h, e]) => revisions.get(h) !== e.revision || e.broken).map(([h]) => h);
    const added = [...revisions.keys()].filter((h) => !this.entries.has(h));
    for (const h of [...stale, ...added]) await this.refresh(h);
  }

  private async entryOf(row: StoredCertificate): Promise<Entry> {
    const entry: Entry = { app: row.appName, status: row.status, revision: row.revision };
    if (row.status !== 'issued' || !row.certPem || !row.keySealed) return entry;
    try {
      const key = await this.deps.sealer.unseal(row.keySealed, tlsKeyContext(row.appId, row.hostname));
      return { ...entry, context: createSecureContext({ cert: row.certPem, key }), pem: { cert: row.certPem, key } };
    } catch (err) {
      if (this.reported.get(row.hostname) !== row.revision) {
        this.reported.set(row.hostname, row.revision);
        this.deps.log.error({ err, hostname: row.hostname, app: row.appName }, 'a certificate cannot be served: its private key does not open');
      }
      // The previous context (if any) keeps serving: a key file being restored is no reason to stop.
      const previous = this.entries.get(row.hostname);
      return { ...entry, context: previous?.context, pem: previous?.pem, broken: true };
    }
  }
}
