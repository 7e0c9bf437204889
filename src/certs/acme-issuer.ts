import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';
import { inAcmeScope, type AcmeProblem } from './acme-http.js';

/** Where the answers to HTTP-01 challenges go, for whichever node the CA reaches to read them. */
export interface ChallengeBoard {
  publish(token: string, keyAuthorization: string): Promise<void>;
  withdraw(token: string): Promise<void>;
}

/** A certificate as a CA issued it: the chain (the hostname's certificate first) and its private key. */
export interface IssuedCert {
  chainPem: string;
  keyPem: string;
}

/** Gets one certificate for one hostname. The ACME implementation is `AcmeIssuer`; tests use fakes. */
export interface Issuer {
  issue(hostname: string, board: ChallengeBoard, signal: AbortSignal): Promise<IssuedCert>;
}

/**
 * An order that did not give a certificate, with the CA's reason. `permanent`: a retry cannot help
 * (the CA refuses the hostname itself, or offers no HTTP-01 challenge for it).
 */
export class OrderError extends Error {
  constructor(message: string, readonly permanent: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OrderError';
  }
}

/** The node is stopping: the order was given up between two steps, and nothing is to be recorded. */
export class OrderAborted extends Error {
  constructor() {
    super('the order was given up: the certificate service is stopping');
    this.name = 'OrderAborted';
  }
}

/** The ACME account key of the directory (created and stored on first use), and its URL once registered. */
export interface AccountStore {
  key(): Promise<{ keyPem: string; url: string | null }>;
  saveUrl(url: string): Promise<void>;
}

export interface AcmeIssuerOptions {
  directoryUrl: string;
  /** PEM of a private CA's root to trust (as well as the public roots) for the directory's HTTPS. */
  ca?: string;
  email?: string;
  accounts: AccountStore;
  /** First wait between polls of a challenge or an order (doubling up to ten times that); default 500 ms. */
  pollMs?: number;
  /** Each request to the CA; default 30 s. */
  timeoutMs?: number;
}

const PERMANENT_PROBLEMS = new Set(['rejectedIdentifier', 'unsupportedIdentifier']);
const TLS_TRUST_ERRORS = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/**
 * Orders certificates from an ACME CA (RFC 8555) with acme-client: registers the account on first use
 * (agreeing to the CA's terms of service on the operator's behalf), orders the hostname, answers its
 * HTTP-01 challenge through the board, finalizes with a new ECDSA P-256 key and downloads the chain.
 */
export class AcmeIssuer implements Issuer {
  private readonly agent?: Agent;

  constructor(private readonly opts: AcmeIssuerOptions) {
    if (opts.ca) this.agent = new Agent({ ca: [...rootCertificates, opts.ca], keepAlive: true });
  }

  issue(hostname: string, board: ChallengeBoard, signal: AbortSignal): Promise<IssuedCert> {
    return inAcmeScope({ agent: this.agent, timeoutMs: this.opts.timeoutMs ?? 30_000 }, async (problems) => {
      try {
        return await this.order(hostname, board, signal);
      } catch (err) {
        throw orderError(err, problems, this.opts.directoryUrl);
      }
    });
  }

  /** Closes the kept-alive connections to the CA. */
  close(): void {
    this.agent?.destroy();
  }

  private async client(): Promise<acme.Client> {
    const account = await this.opts.accounts.key();
    const pollMs = this.opts.pollMs ?? 500;
    const client = new acme.Client({
      directoryUrl: this.opts.directoryUrl,
      accountKey: account.keyPem,
      ...(account.url ? { accountUrl: account.url } : {}),
      backoffAttempts: 10,
      backoffMin: pollMs,
      backoffMax: pollMs * 10,
    });
    if (!account.url) {
      // A key the CA knows already (another node registered it) gets its existing account back.
      await client.createAccount({ termsOfServiceAgreed: true, ...(this.opts.email ? { contact: [`mailto:${this.opts.email}`] } : {}) });
      await this.opts.accounts.saveUrl(client.getAccountUrl());
    }
    return client;
  }

  private async order(hostname: string, board: ChallengeBoard, signal: AbortSignal): Promise<IssuedCert> {
    const client = await this.client();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: hostname }] });
    for (const authz of await client.getAuthorizations(order)) {
      if (signal.aborted) throw new OrderAborted();
      await this.authorize(client, authz, board);
    }
    // Ready once every authorization is valid; what comes back lacks the order's URL, so `order` is kept.
    await client.waitForValidStatus(order);
    if (signal.aborted) throw new OrderAborted();
    const [key, csr] = await acme.crypto.createCsr({ commonName: hostname, altNames: [hostname] }, await acme.crypto.createPrivateEcdsaKey());
    const finalized = await client.finalizeOrder(order, csr);
    const chainPem = await client.getCertificate(finalized);
    return { chainPem, keyPem: key.toString() };
  }

  private async authorize(client: acme.Client, authz: acme.Authorization, board: ChallengeBoard): Promise<void> {
    if (authz.status === 'valid') return;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (!challenge) {
      throw new OrderError(`the CA offers no HTTP-01 challenge for ${authz.identifier.value} (only ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`, true);
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    await board.publish(challenge.token, keyAuthorization);
    let completed = false;
    try {
      await client.completeChallenge(challenge);
      completed = true;
      await client.waitForValidStatus(challenge);
    } catch (err) {
      // An authorization left pending counts against the CA's limits; an answered one fails by itself.
      if (!completed) await client.deactivateAuthorization(authz).catch(() => undefined);
      throw err;
    } finally {
      await board.withdraw(challenge.token).catch(() => undefined);
    }
  }
}

/** The CA's reason as one line, and whether a retry can help. */
function orderError(err: unknown, problems: AcmeProblem[], directoryUrl: string): Error {
  if (err instanceof OrderError || err instanceof OrderAborted) return err;
  const e = err as Error & { code?: string };
  const problem = problems.at(-1);
  const type = problem?.type?.replace('urn:ietf:params:acme:error:', '');
  let message = (e.message || problem?.detail || String(err)).replace(/\s*[\r\n]+\s*/g, ' ').trim();
  if (e.code && TLS_TRUST_ERRORS.has(e.code)) message = `the ACME directory ${directoryUrl} has an untrusted certificate (${message}); trust its CA with --acme-ca-file`;
  else if (e.code && !problem) message = `the ACME directory ${directoryUrl} did not answer: ${message}`;
  return new OrderError(message, type !== undefined && PERMANENT_PROBLEMS.has(type), { cause: err });
}
