/**
 * What bench:proxy points load at, and a one-shot GET used to check that a target really serves the
 * echo machine before it is measured.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** The peers hangar is compared with (each may be skipped, with a reason). */
export const PEER_NAMES = ['nginx', 'haproxy', 'caddy'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** The HTTPS targets: hangar and each peer terminating TLS. */
export const TLS_TARGET_NAMES = ['hangar-tls', 'nginx-tls', 'haproxy-tls', 'caddy-tls'] as const;
export type TlsTargetName = (typeof TLS_TARGET_NAMES)[number];

/** Everything measured, in print order: plain HTTP first, then HTTPS. */
export const TARGET_NAMES = ['direct', 'hangar', ...PEER_NAMES, ...TLS_TARGET_NAMES] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/**
 * References of the fixed-rate run only: hangar with one proxy worker (when the run's hangar has
 * more), and two bare Node forwarders (proxy-refs.ts).
 */
export const RATE_REF_NAMES = ['hangar-1w', 'node-http', 'node-pipe'] as const;
export type RateRefName = (typeof RATE_REF_NAMES)[number];

/** How a client reaches an HTTPS target whose URL names a host that does not resolve. */
export interface TlsClient {
  /** SNI name, also the URL's host. */
  servername: string;
  /** The one certificate to trust (PEM). */
  ca: string;
  /** The IP address to connect to instead of resolving the URL's host. */
  address: string;
}

export interface Target {
  name: TargetName | RateRefName;
  /** http://127.0.0.1:PORT/, or https://bench.test:PORT/ with `tls` set. */
  url: string;
  /** Host header to send instead of the URL's (hangar routes plain HTTP by Host). */
  host?: string;
  /** Process group whose CPU is the proxy's (none for direct). */
  proxyPgid?: number;
  tls?: TlsClient;
}

export interface Probe {
  status: number;
  body: string;
}

/** One GET with its own connection; rejects on a socket or TLS error or after `timeoutMs`. */
export function probe(target: Pick<Target, 'url' | 'host' | 'tls'>, timeoutMs = 2000): Promise<Probe> {
  const u = new URL(target.url);
  const headers = { host: target.host ?? u.host };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const t = target.tls;
    const req = t
      ? httpsRequest({ host: t.address, port: u.port, path: u.pathname, headers, servername: t.servername, ca: t.ca, agent: false }, onResponse)
      : httpRequest({ host: u.hostname, port: u.port, path: u.pathname, headers, agent: false }, onResponse);
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves true once `target` answers 200 with the echo machine's body (which names the machine). */
export async function servesEcho(target: Pick<Target, 'url' | 'host' | 'tls'>, machineId: string): Promise<boolean> {
  try {
    const r = await probe(target);
    return r.status === 200 && r.body.includes(machineId);
  } catch {
    return false;
  }
}
