import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureContext } from 'node:tls';
import { domainToASCII } from 'node:url';
import type { Logger } from 'pino';
import type { CertificateSource } from '../core/certs.js';
import { ConflictError, NotFoundError, UserError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { ChangeFeed, FeedMessage } from '../state/feed.js';
import type { State } from '../state/index.js';
import { AcmeAccounts } from './acme-account.js';
import { AcmeIssuer, type Issuer } from './acme-issuer.js';
import { CertCache } from './cert-cache.js';
import { normalizeHostname } from './hostname.js';
import { OrderWorker } from './order-worker.js';
import { checkImport } from './pem-check.js';
import { DEFAULT_CHECK_INTERVAL_MS, DEFAULT_RENEW_BEFORE_MS, DEFAULT_RETRY_DELAYS_MS } from './schedule.js';
import { tlsKeyContext, type Sealer } from './sealing.js';
import { certificateInfo, dnsRecords, type CertificateInfo } from './views.js';

export interface CertServiceDeps {
  state: State;
  /** Seals private keys at rest: the SecretVault (its key file is the secrets key). */
  vault: Sealer;
  log: Logger;
  /**
   * The ACME CA: its directory URL, the PEM file of a private CA's root its HTTPS is signed by
   * (`--acme-ca-file`; trusted for the directory only, alongside the public roots), and the contact
   * address registered with the account.
   */
  acme: { directoryUrl: string; caFile?: string; email?: string };
  /** The addresses the user's DNS record must point at (the proxies' public addresses). */
  dnsTargets: () => string[];
  /** A line for the app's platform log: issued, renewed, failed orders (warn), added, imported, removed. */
  onEvent?: (app: string, message: string, level: 'info' | 'warn') => void;
  now?: () => number;
  /** Renew this long before expiry (default 30 days; never before half the lifetime). */
  renewBeforeMs?: number;
  /** How often to look for orders, retries and renewals that are due (default 1 h). */
  checkIntervalMs?: number;
  /** Waits after 1, 2, … failed orders in a row; the last repeats (default 1m, 5m, 30m, 2h, 6h). */
  retryDelaysMs?: number[];
  /** This node's name in claims (the host id); default a random one per service. */
  nodeId?: string;
  /**
   * In a cluster: a change feed of the service's own (a PgFeed on its own LISTEN connection, since a
   * feed takes one handler), to tell other nodes of changes here and hear of theirs at once.
   */
  feed?: ChangeFeed;
  /** How often the cache is compared with the database, catching what the feed missed (default 5 s). */
  syncIntervalMs?: number;
  /** How long a claim on an order holds without renewal (default 5 min; renewed every third of it). */
  claimTtlMs?: number;
  /** The certificates in memory changed (one was issued, renewed, imported, removed): the proxy's workers reload. */
  onCacheChange?: () => void;
  /** Gets the certificates; default the ACME CA of `acme`. Tests pass a fake. */
  issuer?: Issuer;
}

/**
 * The certificate store (`hangar certs`): hostnames of apps with their TLS certificates, ordered and
 * renewed through ACME HTTP-01 or imported. It is the proxy's CertificateSource.
 *
 * - `add` stores the hostname `pending`; the background worker orders it (see OrderWorker): at once on
 *   the node where it was added, and every `checkIntervalMs` on every node for what is due. A failed
 *   order stays `pending` with the CA's reason in `lastError` and is retried after the backoff; a
 *   hostname the CA refuses outright becomes `failed` (adding it again retries). Renewal starts
 *   `renewBeforeMs` before expiry; while it fails the old certificate keeps serving.
 * - `contextFor` and `appFor` answer from memory. The cache is loaded at `start()`, updated at once by
 *   changes made here, and picks up other nodes' changes through `feed` (topic `cert`) and by
 *   comparing row revisions every `syncIntervalMs` (which alone suffices without a feed).
 * - `challenge` reads the shared database, so any node's proxy answers the CA.
 * - Private keys (certificates' and the ACME account's) are stored sealed by `vault`, never in clear.
 */
export class CertService implements CertificateSource {
  private readonly cache: CertCache;
  private readonly now: () => number;
  private readonly renewBeforeMs: number;
  private worker?: OrderWorker;
  private issuer?: Issuer;
  private syncTimer?: NodeJS.Timeout;

  constructor(private readonly deps: CertServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.renewBeforeMs = deps.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
    this.cache = new CertCache({ state: deps.state, sealer: deps.vault, log: deps.log, onChange: () => this.deps.onCacheChange?.() });
  }

  /**
   * Loads every certificate into memory, starts listening to the feed, and starts the worker. Throws a
   * UserError when the ACME CA file cannot be read.
   */
  async start(): Promise<void> {
    const { deps } = this;
    this.issuer = deps.issuer ?? this.acmeIssuer();
    await this.cache.sync();
    await deps.feed?.start(
      (m) => this.receive(m),
      () => void this.resync(),
    );
    this.syncTimer = setInterval(() => void this.resync(), deps.syncIntervalMs ?? 5000);
    this.syncTimer.unref();
    this.worker = new OrderWorker({
      state: deps.state,
      issuer: this.issuer,
      sealer: deps.vault,
      log: deps.log,
      node: deps.nodeId ?? randomUUID(),
      now: this.now,
      renewBeforeMs: this.renewBeforeMs,
      retryDelaysMs: deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS,
      claimTtlMs: deps.claimTtlMs ?? 5 * 60_000,
      changed: (h) => this.changed(h),
      event: (app, message, level) => this.event(app, message, level),
    });
    this.worker.start(deps.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
  }

  /** Stops the worker (an order under way is given up at its next step), the sync and the feed. */
  async stop(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.worker?.stop();
    await this.deps.feed?.stop();
    if (this.issuer instanceof AcmeIssuer) this.issuer.close();
  }

  contextFor(servername: string): SecureContext | undefined {
    return this.cache.context(servername.toLowerCase());
  }

  challenge(token: string): Promise<string | undefined> {
    return this.deps.state.certs.challenge(token, this.now());
  }

  appFor(hostname: string): string | undefined {
    return this.cache.app(hostname.toLowerCase());
  }

  /** What the proxy's worker processes serve: every hostname's app, and its certificate when issued. */
  pems(): Array<{ hostname: string; app: string; cert?: string; key?: string }> {
    return this.cache.pems();
  }

  /**
   * Adds a hostname to the app, to be ordered from the CA at once, and returns it (`pending`). Adding
   * one the app has again retries it now if it has no certificate yet, and changes nothing otherwise.
   * Throws a UserError for an invalid hostname (IP address, wildcard, not a DNS name), NotFoundError
   * for an unknown app, ConflictError (`hostname_taken`) when another app has the hostname.
   */
  async add(appName: string, hostname: string): Promise<CertificateInfo> {
    const name = normalizeHostname(hostname);
    const app = await this.app(appName);
    await this.assertFree(app, name);
    const { certs } = this.deps.state;
    const now = this.now();
    const inserted = await certs.insertPending(app.id, name, now);
    const row = await certs.get(name);
    if (!row || row.appId !== app.id) throw taken(name, row?.appName ?? 'another app');
    if (!inserted && row.source === 'acme' && row.status !== 'issued') await certs.requeue(name, now);
    if (inserted || row.status !== 'issued') {
      await this.changed(name);
      const dns = dnsRecords(name, this.deps.dnsTargets()).map((r) => `${r.type} ${r.value}`).join(', ');
      const what = inserted ? 'added; ordering it from the CA' : 'added again; ordering it now';
      this.event(app.name, `certificate for ${name} ${what} (DNS: ${name} → ${dns || 'this host'}; the CA must reach port 80 there)`, 'info');
      this.worker?.kick();
    }
    return this.show(app.name, name);
  }

  /** The app's certificates, by hostname. NotFoundError for an unknown app. */
  async list(appName: string): Promise<CertificateInfo[]> {
    const app = await this.app(appName);
    return (await this.deps.state.certs.list(app.id)).map((c) => this.info(c));
  }

  /** One of the app's certificates. NotFoundError (`certificate_not_found`) when the app does not have it. */
  async show(appName: string, hostname: string): Promise<CertificateInfo> {
    const name = normalizeHostname(hostname);
    const app = await this.app(appName);
    const row = await this.deps.state.certs.get(name);
    if (!row || row.appId !== app.id) throw new NotFoundError('certificate', name, `list app ${app.name}'s certificates with: hangar certs list -a ${app.name}`);
    return this.info(row);
  }

  /** Removes the hostname and its certificate from the app, serving it no more; returns what it was. */
  async remove(appName: string, hostname: string): Promise<CertificateInfo> {
    const before = await this.show(appName, hostname);
    const app = await this.app(appName);
    // Removed meanwhile by another request: the answer is the same as for one never added.
    if (!(await this.deps.state.certs.remove(app.id, before.hostname))) throw new NotFoundError('certificate', before.hostname);
    await this.changed(before.hostname);
    this.event(app.name, `certificate for ${before.hostname} removed`, 'info');
    return before;
  }

  /**
   * Imports the user's certificate (PEM chain, the hostname's certificate first) and private key for
   * the hostname, replacing what the app had there; it is served at once and never renewed. Refused
   * with one UserError line and a hint: unparsable PEM, an encrypted key, a key that does not match,
   * names that do not cover the hostname, an expired certificate; ConflictError when another app has it.
   */
  async import(appName: string, hostname: string, certPem: string, keyPem: string): Promise<CertificateInfo> {
    const name = normalizeHostname(hostname);
    const app = await this.app(appName);
    await this.assertFree(app, name);
    const checked = checkImport(name, certPem, keyPem, this.now());
    const { sealed, keyId } = await this.deps.vault.seal(checked.keyPem, tlsKeyContext(app.id, name));
    const f = checked.facts;
    const material = { certPem: checked.chainPem, keySealed: sealed, keyId, issuer: f.issuer, serial: f.serial, notBefore: f.notBefore, notAfter: f.notAfter };
    if (!(await this.deps.state.certs.putImported(app.id, name, material, this.now()))) {
      throw taken(name, (await this.deps.state.certs.get(name))?.appName ?? 'another app');
    }
    await this.changed(name);
    this.event(app.name, `certificate for ${name} imported (issued by ${f.issuer}, valid until ${new Date(f.notAfter).toISOString()}); it is not renewed`, 'info');
    return this.show(app.name, name);
  }

  private info(c: Parameters<typeof certificateInfo>[0]): CertificateInfo {
    return certificateInfo(c, { dnsTargets: this.deps.dnsTargets(), renewBeforeMs: this.renewBeforeMs });
  }

  private async changed(hostname: string): Promise<void> {
    await this.cache.refresh(hostname);
    this.deps.feed?.publish('cert', { hostname });
  }

  private receive(m: FeedMessage): void {
    const hostname = m.body.hostname;
    if (m.topic !== 'cert' || typeof hostname !== 'string') return;
    this.cache.refresh(hostname).catch((err) => this.deps.log.warn({ err, hostname }, 'could not load a certificate another node changed'));
  }

  private resync(): Promise<void> {
    return this.cache.sync().catch((err) => this.deps.log.warn({ err }, 'certificate cache sync failed; retrying at the next'));
  }

  private event(app: string, message: string, level: 'info' | 'warn'): void {
    try {
      this.deps.onEvent?.(app, message, level);
    } catch (err) {
      this.deps.log.warn({ err, app }, 'could not record a certificate event');
    }
  }

  private async app(name: string): Promise<App> {
    const app = await this.deps.state.apps.byName(name);
    if (!app) throw new NotFoundError('app', name, `create it with: hangar apps create ${name}`);
    return app;
  }

  /** Refuses a hostname another app routes (its `hostnames`) or holds a certificate for. */
  private async assertFree(app: App, hostname: string): Promise<void> {
    const owner = (await this.deps.state.certs.get(hostname))?.appName;
    if (owner && owner !== app.name) throw taken(hostname, owner);
    for (const other of await this.deps.state.apps.list()) {
      if (other.id === app.id) continue;
      if ((other.routing.hostnames ?? []).some((h) => sameHost(h, hostname))) throw taken(hostname, other.name);
    }
  }

  private acmeIssuer(): AcmeIssuer {
    const { acme, state, vault } = this.deps;
    let ca: string | undefined;
    if (acme.caFile) {
      try {
        ca = readFileSync(acme.caFile, 'utf8');
      } catch (err) {
        throw new UserError({ code: 'acme_ca_file_unreadable', kind: 'invalid', message: `cannot read the ACME CA file ${acme.caFile}: ${(err as Error).message}`, hint: 'give --acme-ca-file the PEM file of the root certificate the ACME directory\'s HTTPS is signed by', cause: err });
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new UserError({ code: 'acme_ca_file_invalid', message: `the ACME CA file ${acme.caFile} holds no PEM certificate`, hint: 'give --acme-ca-file a PEM file (-----BEGIN CERTIFICATE-----)' });
    }
    const accounts = new AcmeAccounts({ certs: state.certs, sealer: vault, directoryUrl: acme.directoryUrl, now: this.now });
    return new AcmeIssuer({ directoryUrl: acme.directoryUrl, ca, email: acme.email, accounts });
  }
}

function taken(hostname: string, app: string): ConflictError {
  return new ConflictError('hostname_taken', `hostname ${hostname} belongs to app ${app}`, `remove it there first (hangar certs remove ${hostname} -a ${app}, or from that app's routing hostnames), or use another hostname`);
}

function sameHost(a: string, b: string): boolean {
  const norm = (h: string) => (domainToASCII(h.toLowerCase()) || h.toLowerCase()).replace(/\.$/, '');
  return norm(a) === norm(b);
}
