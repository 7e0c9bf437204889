/**
 * What bench:proxy points load at, and a one-shot GET used to check that a target really serves the
 * echo machine before it is measured.
 */
import { request } from 'node:http';

/** The five things measured, in print order. */
export const TARGET_NAMES = ['direct', 'hangar', 'nginx', 'haproxy', 'caddy'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** The peers hangar is compared with (each may be skipped, with a reason). */
export const PEER_NAMES = ['nginx', 'haproxy', 'caddy'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

export interface Target {
  name: TargetName;
  /** http://127.0.0.1:PORT/ */
  url: string;
  /** Host header to send instead of the URL's (hangar routes by Host). */
  host?: string;
  /** Process group whose CPU is the proxy's (none for direct). */
  proxyPgid?: number;
}

export interface Probe {
  status: number;
  body: string;
}

/** One GET with its own connection; rejects on a socket error or after `timeoutMs`. */
export function probe(target: Pick<Target, 'url' | 'host'>, timeoutMs = 2000): Promise<Probe> {
  const u = new URL(target.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, headers: target.host ? { host: target.host } : {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves true once `target` answers 200 with the echo machine's body (which names the machine). */
export async function servesEcho(target: Pick<Target, 'url' | 'host'>, machineId: string): Promise<boolean> {
  try {
    const r = await probe(target);
    return r.status === 200 && r.body.includes(machineId);
  } catch {
    return false;
  }
}
