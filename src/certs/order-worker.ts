import type { Logger } from 'pino';
import type { StoredCertificate } from '../core/certificate.js';
import type { State } from '../state/index.js';
import { OrderAborted, OrderError, type ChallengeBoard, type IssuedCert, type Issuer } from './acme-issuer.js';
import { describeCertificate, type CertFacts } from './pem-check.js';
import { renewsAt, retryAt } from './schedule.js';
import { tlsKeyContext, type Sealer } from './sealing.js';

/** How long the CA may take to fetch a published HTTP-01 answer before it is dropped. */
const CHALLENGE_TTL_MS = 60 * 60_000;
/** The longest reason kept in `last_error`. */
const MAX_ERROR_CHARS = 1000;

export interface OrderWorkerDeps {
  state: State;
  issuer: Issuer;
  sealer: Sealer;
  log: Logger;
  /** This node, in claims. */
  node: string;
  now: () => number;
  renewBeforeMs: number;
  retryDelaysMs: readonly number[];
  claimTtlMs: number;
  /** A certificate's row changed here: refresh the cache, tell the other nodes. */
  changed(hostname: string): Promise<void>;
  /** A line for the app's platform log. */
  event(app: string, message: string, level: 'info' | 'warn'): void;
}

/**
 * Orders what is due: new certificates, retries after the backoff, renewals. Each certificate is
 * claimed in its row first (see CertsRepo.claim) and the claim is kept alive while the order runs, so
 * across the nodes of a cluster one node orders it at a time; one that dies mid-order loses the claim
 * after `claimTtlMs`, and another node takes over. A node works on one certificate at a time.
 */
export class OrderWorker {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly deps: OrderWorkerDeps) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for work now (after an add); a pass already running makes one more pass after it. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  /**
   * Stops looking for work; an order under way is given up at its next step, its claim released. Waits
   * for that at most `waitMs`: a CA that does not answer must not hold up a shutdown (the claim of an
   * order that cannot record its outcome lapses, and another node takes over).
   */
  async stop(waitMs = 10_000): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      await this.pass().catch((err) => this.deps.log.warn({ err }, 'looking for certificates to order failed; trying again at the next check'));
    } while (this.again && !this.stopped);
  }

  private async pass(): Promise<void> {
    const { certs } = this.deps.state;
    for (const hostname of await certs.due(this.deps.now(), 20)) {
      if (this.stopped) return;
      await this.attempt(hostname);
    }
    await certs.purgeChallenges(this.deps.now());
  }

  private async attempt(hostname: string): Promise<void> {
    const { state, node, claimTtlMs, log } = this.deps;
    const now = this.deps.now();
    if (!(await state.certs.claim(hostname, node, now + claimTtlMs, now))) return;
    const row = await state.certs.get(hostname);
    if (!row) return;
    const keep = setInterval(() => {
      state.certs.extendClaim(hostname, node, this.deps.now() + claimTtlMs).catch((err) => log.warn({ err, hostname }, 'could not renew the claim on a certificate order'));
    }, Math.max(50, Math.floor(claimTtlMs / 3)));
    keep.unref();
    try {
      log.info({ hostname, app: row.appName, renewal: row.status === 'issued' }, 'ordering a certificate');
      const issued = await this.deps.issuer.issue(hostname, this.board(hostname), this.abort.signal);
      await this.issued(row, issued);
    } catch (err) {
      if (err instanceof OrderAborted) await state.certs.release(hostname, node).catch(() => undefined);
      else await this.failed(row, err);
    } finally {
      clearInterval(keep);
    }
  }

  private board(hostname: string): ChallengeBoard {
    const { certs } = this.deps.state;
    return {
      publish: (token, keyAuthorization) => certs.putChallenge(token, hostname, keyAuthorization, this.deps.now() + CHALLENGE_TTL_MS),
      withdraw: (token) => certs.deleteChallenge(token),
    };
  }

  private async issued(row: StoredCertificate, issued: IssuedCert): Promise<void> {
    let facts: CertFacts;
    let sealed: { sealed: string; keyId: string };
    try {
      facts = describeCertificate(issued.chainPem);
      sealed = await this.deps.sealer.seal(issued.keyPem, tlsKeyContext(row.appId, row.hostname));
    } catch (err) {
      return this.failed(row, err);
    }
    const { state, node } = this.deps;
    const next = renewsAt(facts.notBefore, facts.notAfter, this.deps.renewBeforeMs);
    const material = { certPem: issued.chainPem, keySealed: sealed.sealed, keyId: sealed.keyId, issuer: facts.issuer, serial: facts.serial, notBefore: facts.notBefore, notAfter: facts.notAfter };
    if (!(await state.certs.finish(row.hostname, node, { kind: 'issued', material, nextAttemptAt: next }, this.deps.now()))) return;
    await this.deps.changed(row.hostname);
    const what = row.status === 'issued' ? 'renewed' : 'issued';
    this.deps.log.info({ hostname: row.hostname, app: row.appName, issuer: facts.issuer, serial: facts.serial, notAfter: new Date(facts.notAfter).toISOString() }, `certificate ${what}`);
    this.deps.event(row.appName, `certificate for ${row.hostname} ${what} by ${facts.issuer}, valid until ${iso(facts.notAfter)}; renews at ${iso(next)}`, 'info');
  }

  private async failed(row: StoredCertificate, err: unknown): Promise<void> {
    const { state, node, log } = this.deps;
    const now = this.deps.now();
    const reason = oneLine(err).slice(0, MAX_ERROR_CHARS);
    // Only a certificate that serves nothing becomes failed; a refused renewal is retried like any
    // other failure while the current certificate serves.
    const permanent = err instanceof OrderError && err.permanent && row.status === 'pending';
    const next = permanent ? null : retryAt(row.attempts + 1, now, this.deps.retryDelaysMs);
    if (!(await state.certs.finish(row.hostname, node, { kind: 'failed', error: reason, permanent, nextAttemptAt: next }, now))) return;
    if (permanent) await this.deps.changed(row.hostname);
    log.warn({ hostname: row.hostname, app: row.appName, reason, attempts: row.attempts + 1, next: next && iso(next) }, 'certificate order failed');
    const then = next === null ? `no retry (add it again with: hangar certs add ${row.hostname} -a ${row.appName})` : `next try at ${iso(next)}`;
    const message =
      row.status === 'issued'
        ? `renewing the certificate for ${row.hostname} failed: ${reason}; the current one (valid until ${iso(row.notAfter!)}) keeps serving; ${then}`
        : `ordering a certificate for ${row.hostname} failed: ${reason}; ${then}`;
    this.deps.event(row.appName, message, 'warn');
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim() || 'unknown error';
}
