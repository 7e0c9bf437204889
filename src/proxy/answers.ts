import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CertificateSource } from '../core/certs.js';

/** Answers the proxy gives itself: its own errors, ACME challenges, the HTTPS redirect. */

const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** A plain-text answer of the proxy's own (or a cut connection when the machine's answer had begun). */
export function plain(res: ServerResponse, status: number, body: string, requestId: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-request-id': requestId, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The Host a request names, without port, lower case. */
export function hostOf(req: IncomingMessage): string {
  return (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
}

export function isChallenge(req: IncomingMessage): boolean {
  return req.url?.startsWith(ACME_CHALLENGE_PREFIX) ?? false;
}

/**
 * An ACME HTTP-01 challenge the certificate store is waiting on, answered here on any node; false
 * when the store knows no such token (the request is routed as any other: the app may answer it).
 */
export async function answerChallenge(req: IncomingMessage, res: ServerResponse, requestId: string, certs: CertificateSource | undefined): Promise<boolean> {
  const token = req.url!.slice(ACME_CHALLENGE_PREFIX.length).split('?')[0]!;
  const answer = token && certs ? await certs.challenge(token).catch(() => undefined) : undefined;
  if (answer === undefined) return false;
  plain(res, 200, answer, requestId);
  return true;
}

/** `force_https`: the same URL on the TLS listener, permanently. */
export function redirectToHttps(req: IncomingMessage, res: ServerResponse, requestId: string, tlsPort: number): void {
  const port = tlsPort === 443 ? '' : `:${tlsPort}`;
  res.writeHead(301, { location: `https://${hostOf(req)}${port}${req.url ?? '/'}`, 'content-type': 'text/plain; charset=utf-8', 'x-request-id': requestId, 'content-length': 0 });
  res.end();
}
