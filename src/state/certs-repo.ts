import type { Selectable } from 'kysely';
import type { CertSource, CertStatus, StoredCertificate } from '../core/certificate.js';
import type { Db } from './db.js';
import type { CertificatesTable } from './schema.js';

function toCert(r: Selectable<CertificatesTable> & { app_name: string }): StoredCertificate {
  return {
    hostname: r.hostname,
    appId: r.app_id,
    appName: r.app_name,
    status: r.status as CertStatus,
    source: r.source as CertSource,
    certPem: r.cert_pem,
    keySealed: r.key_sealed,
    keyId: r.key_id,
    issuer: r.issuer,
    serial: r.serial,
    notBefore: r.not_before,
    notAfter: r.not_after,
    lastError: r.last_error,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    claimedBy: r.claimed_by,
    claimedUntil: r.claimed_until,
    revision: r.revision,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A certificate as issued or imported: what a row holds once it serves. */
export interface CertMaterial {
  certPem: string;
  keySealed: string;
  keyId: string;
  issuer: string;
  serial: string;
  notBefore: number;
  notAfter: number;
}

/** What one order attempt leaves in the row (see `finish`). */
export type AttemptOutcome =
  | { kind: 'issued'; material: CertMaterial; nextAttemptAt: number }
  /** `permanent`: the row becomes `failed` (for one that serves nothing: the CA refused the hostname). */
  | { kind: 'failed'; error: string; permanent: boolean; nextAttemptAt: number | null };

/** An ACME account as stored: its key sealed. */
export interface StoredAcmeAccount {
  directoryUrl: string;
  keySealed: string;
  keyId: string;
  url: string | null;
}

/**
 * Certificates (one row per hostname, owned by one app), the HTTP-01 answers being given and the ACME
 * accounts. Work on a certificate is claimed in its own row (`claim`), so of the nodes sharing one
 * database only one orders a certificate at a time.
 */
export class CertsRepo {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db.selectFrom('certificates').innerJoin('apps', 'apps.id', 'certificates.app_id').selectAll('certificates').select('apps.name as app_name');
  }

  async get(hostname: string): Promise<StoredCertificate | undefined> {
    const r = await this.base().where('certificates.hostname', '=', hostname).executeTakeFirst();
    return r && toCert(r);
  }

  /** An app's certificates, or every app's; by hostname. */
  async list(appId?: string): Promise<StoredCertificate[]> {
    let q = this.base();
    if (appId) q = q.where('certificates.app_id', '=', appId);
    return (await q.orderBy('certificates.hostname').execute()).map(toCert);
  }

  /** Every hostname with its revision: what a node compares its cache with. */
  async revisions(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('certificates').select(['hostname', 'revision']).execute();
    return new Map(rows.map((r) => [r.hostname, r.revision]));
  }

  /** Adds a hostname to order, due at `at`. False when the hostname has a row already (of any app). */
  async insertPending(appId: string, hostname: string, at: number): Promise<boolean> {
    const iso = new Date(at).toISOString();
    const r = await this.db
      .insertInto('certificates')
      .values({ hostname, app_id: appId, status: 'pending', source: 'acme', next_attempt_at: at, created_at: iso, updated_at: iso })
      .onConflict((oc) => oc.column('hostname').doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Makes an ACME certificate that does not serve (pending or failed) due again at `at`, from the first backoff step. */
  async requeue(hostname: string, at: number): Promise<void> {
    await this.db
      .updateTable('certificates')
      .set((eb) => ({ status: 'pending', attempts: 0, next_attempt_at: at, revision: eb('revision', '+', 1), updated_at: new Date(at).toISOString() }))
      .where('hostname', '=', hostname)
      .where('source', '=', 'acme')
      .where('status', '!=', 'issued')
      .execute();
  }

  /**
   * Stores an imported certificate for the app's hostname, replacing what the app had there (an ACME
   * one stops being renewed). False when the hostname belongs to another app: nothing is written.
   */
  async putImported(appId: string, hostname: string, m: CertMaterial, at: number): Promise<boolean> {
    const iso = new Date(at).toISOString();
    const fields = {
      status: 'issued',
      source: 'imported',
      cert_pem: m.certPem,
      key_sealed: m.keySealed,
      key_id: m.keyId,
      issuer: m.issuer,
      serial: m.serial,
      not_before: m.notBefore,
      not_after: m.notAfter,
      last_error: null,
      attempts: 0,
      next_attempt_at: null,
      // An order under way loses its claim, so its outcome cannot overwrite what the user imported.
      claimed_by: null,
      claimed_until: null,
      updated_at: iso,
    };
    await this.db.insertInto('certificates').values({ hostname, app_id: appId, ...fields, created_at: iso }).onConflict((oc) => oc.column('hostname').doNothing()).execute();
    const r = await this.db
      .updateTable('certificates')
      .set((eb) => ({ ...fields, revision: eb('revision', '+', 1) }))
      .where('hostname', '=', hostname)
      .where('app_id', '=', appId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes the app's certificate of that hostname (and its challenges). False when it had none. */
  async remove(appId: string, hostname: string): Promise<boolean> {
    const r = await this.db.deleteFrom('certificates').where('hostname', '=', hostname).where('app_id', '=', appId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** ACME certificates whose next attempt is due at `now` and that no node holds a live claim on, soonest first. */
  async due(now: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select('hostname')
      .where('source', '=', 'acme')
      .where('status', 'in', ['pending', 'issued'])
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_by', 'is', null), eb('claimed_until', '<', now)]))
      .orderBy('next_attempt_at')
      .limit(limit)
      .execute();
    return rows.map((r) => r.hostname);
  }

  /**
   * Makes `node` the one ordering the certificate until `until`, if it is still due and nobody else
   * holds a live claim. One statement, so two nodes can never both win it; and since a node that
   * finished moved `next_attempt_at` on, a node that saw it due before then does not order it again.
   */
  async claim(hostname: string, node: string, until: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('certificates')
      .set({ claimed_by: node, claimed_until: until })
      .where('hostname', '=', hostname)
      .where('source', '=', 'acme')
      .where('status', 'in', ['pending', 'issued'])
      .where('next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('claimed_by', 'is', null), eb('claimed_by', '=', node), eb('claimed_until', '<', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Keeps a claim alive while the order takes. False when the node no longer holds it. */
  async extendClaim(hostname: string, node: string, until: number): Promise<boolean> {
    const r = await this.db.updateTable('certificates').set({ claimed_until: until }).where('hostname', '=', hostname).where('claimed_by', '=', node).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Lets go of a claim without recording anything (the node is stopping). */
  async release(hostname: string, node: string): Promise<void> {
    await this.db.updateTable('certificates').set({ claimed_by: null, claimed_until: null }).where('hostname', '=', hostname).where('claimed_by', '=', node).execute();
  }

  /**
   * Records an attempt's outcome and releases the claim, only if `node` still holds it (a row removed,
   * re-added or taken over meanwhile is left alone): false then. A failure keeps whatever certificate
   * serves; a permanent one marks the row failed.
   */
  async finish(hostname: string, node: string, o: AttemptOutcome, at: number): Promise<boolean> {
    const updated_at = new Date(at).toISOString();
    const q = this.db.updateTable('certificates');
    const set =
      o.kind === 'issued'
        ? q.set((eb) => ({
            status: 'issued',
            cert_pem: o.material.certPem,
            key_sealed: o.material.keySealed,
            key_id: o.material.keyId,
            issuer: o.material.issuer,
            serial: o.material.serial,
            not_before: o.material.notBefore,
            not_after: o.material.notAfter,
            last_error: null,
            attempts: 0,
            next_attempt_at: o.nextAttemptAt,
            revision: eb('revision', '+', 1),
            updated_at,
          }))
        : q.set((eb) => ({
            ...(o.permanent ? { status: 'failed', revision: eb('revision', '+', 1) } : {}),
            last_error: o.error,
            attempts: eb('attempts', '+', 1),
            next_attempt_at: o.nextAttemptAt,
            updated_at,
          }));
    const r = await set.set({ claimed_by: null, claimed_until: null }).where('hostname', '=', hostname).where('claimed_by', '=', node).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Ids of the keys stored private keys are sealed with (certificates' and ACME accounts'). */
  async keyIds(): Promise<string[]> {
    const certs = await this.db.selectFrom('certificates').select('key_id').distinct().where('key_id', 'is not', null).execute();
    const accounts = await this.db.selectFrom('acme_accounts').select('key_id').distinct().execute();
    return [...new Set([...certs.map((r) => r.key_id!), ...accounts.map((r) => r.key_id)])];
  }

  // ---- HTTP-01 answers ----

  /** Publishes an answer for the CA to fetch, from any node, until `expiresAt`. */
  async putChallenge(token: string, hostname: string, keyAuthorization: string, expiresAt: number): Promise<void> {
    await this.db
      .insertInto('acme_challenges')
      .values({ token, hostname, key_authorization: keyAuthorization, expires_at: expiresAt })
      .onConflict((oc) => oc.column('token').doUpdateSet({ hostname, key_authorization: keyAuthorization, expires_at: expiresAt }))
      .execute();
  }

  /** The answer for a token, unless it expired before `now`. */
  async challenge(token: string, now: number): Promise<string | undefined> {
    const r = await this.db.selectFrom('acme_challenges').select('key_authorization').where('token', '=', token).where('expires_at', '>', now).executeTakeFirst();
    return r?.key_authorization;
  }

  async deleteChallenge(token: string): Promise<void> {
    await this.db.deleteFrom('acme_challenges').where('token', '=', token).execute();
  }

  /** Drops answers that expired before `now` (left by a node that died mid-order). */
  async purgeChallenges(now: number): Promise<number> {
    const r = await this.db.deleteFrom('acme_challenges').where('expires_at', '<=', now).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  // ---- ACME accounts ----

  async account(directoryUrl: string): Promise<StoredAcmeAccount | undefined> {
    const r = await this.db.selectFrom('acme_accounts').selectAll().where('directory_url', '=', directoryUrl).executeTakeFirst();
    return r && { directoryUrl: r.directory_url, keySealed: r.key_sealed, keyId: r.key_id, url: r.url };
  }

  /** Stores the account unless the directory has one, and returns the stored one: the first node's wins. */
  async accountOr(a: Omit<StoredAcmeAccount, 'url'>, at: number): Promise<StoredAcmeAccount> {
    await this.db
      .insertInto('acme_accounts')
      .values({ directory_url: a.directoryUrl, key_sealed: a.keySealed, key_id: a.keyId, url: null, created_at: new Date(at).toISOString() })
      .onConflict((oc) => oc.column('directory_url').doNothing())
      .execute();
    return (await this.account(a.directoryUrl))!;
  }

  async setAccountUrl(directoryUrl: string, url: string): Promise<void> {
    await this.db.updateTable('acme_accounts').set({ url }).where('directory_url', '=', directoryUrl).execute();
  }
}
