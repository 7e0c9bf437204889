import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Backend } from './routing-table.js';

/** How one forwarded exchange ended. `retryable`: the connection failed before any byte went upstream. */
export interface ForwardResult {
  outcome: 'done' | 'retryable' | 'failed';
  /** The machine's status code, 0 when it never answered. */
  status: number;
  bytesIn: number;
  bytesOut: number;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);
const agent = new Agent({ keepAlive: true, maxSockets: Infinity, keepAliveMsecs: 1000 });

/** Hop-by-hop headers are the proxy's own business, never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

/**
 * A request one node's proxy relays to the node of the machine's host names the machine and carries
 * the cluster's relay token; neither ever reaches a machine, and a client cannot set them.
 */
export const RELAY_HEADER = 'hangar-relay';
export const RELAY_TOKEN_HEADER = 'hangar-relay-token';
/** The machine's node answers a relay it cannot serve (no routable machine there) with this header on a 503. */
export const RELAY_REFUSED_HEADER = 'hangar-relay-refused';
const RELAY = new Set([RELAY_HEADER, RELAY_TOKEN_HEADER]);

/** Where a relayed request goes: the token that proves it comes from a node of the cluster. */
export interface RelayAuth {
  token: string;
}

export function forwardedHeaders(req: IncomingMessage, requestId: string, relayed = false): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k) && !RELAY.has(k)) out[k] = v;
  // A relayed request already carries the client's address, added by the node it entered at.
  const peer = relayed ? undefined : (req.socket.remoteAddress ?? '');
  if (peer !== undefined) out['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${peer}` : peer;
  if (!relayed) out['x-forwarded-proto'] = 'http';
  if (!relayed) out['x-forwarded-host'] = req.headers.host ?? '';
  out['x-request-id'] = requestId;
  return out;
}

/**
 * Streams `req` to the backend and the answer back to `res`. The request body is only piped once the
 * upstream socket is connected, so a refused or reset connect can be retried on another machine without
 * losing a byte.
 */
export function forward(req: IncomingMessage, res: ServerResponse, b: Backend, requestId: string, relay?: { auth?: RelayAuth; relayed?: boolean }): Promise<ForwardResult> {
  return new Promise<ForwardResult>((resolve) => {
    let sent = false;
    let settled = false;
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    const finish = (outcome: ForwardResult['outcome']) => {
      if (!settled) {
        settled = true;
        resolve({ outcome, status, bytesIn, bytesOut });
      }
    };
    const headers = forwardedHeaders(req, requestId, relay?.relayed);
    if (b.remote && relay?.auth) Object.assign(headers, { [RELAY_HEADER]: b.machineId, [RELAY_TOKEN_HEADER]: relay.auth.token });
    const up = request({ host: b.host, port: b.port, method: req.method, path: req.url, headers, agent });
    const replayable = () => !sent || (IDEMPOTENT.has(req.method ?? '') && !req.headers['content-length'] && !req.headers['transfer-encoding']);
    const startBody = () => {
      if (sent) return;
      sent = true;
      req.on('data', (c: Buffer) => (bytesIn += c.length));
      req.pipe(up);
    };
    up.on('socket', (s) => {
      if (s.connecting) s.once('connect', startBody);
      else startBody();
    });
    up.on('response', (ur) => {
      // The machine's node had nothing to hand the request to: another machine can take it.
      if (b.remote && ur.headers[RELAY_REFUSED_HEADER] && replayable() && !res.headersSent) {
        ur.resume();
        return finish('retryable');
      }
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP.has(k) && k !== RELAY_REFUSED_HEADER) headers[k] = v;
      headers['hangar-machine'] = b.machineId;
      headers['x-request-id'] = requestId;
      status = ur.statusCode ?? 0;
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, headers);
      ur.on('data', (c: Buffer) => (bytesOut += c.length));
      ur.pipe(res);
      ur.on('error', () => {
        res.destroy();
        finish('failed');
      });
      ur.on('aborted', () => {
        res.destroy();
        finish('failed');
      });
      res.on('finish', () => finish('done'));
      res.on('close', () => {
        if (!ur.complete) ur.destroy();
        finish(ur.complete ? 'done' : 'failed');
      });
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      // A reused keep-alive socket the machine had just closed fails the same way as a refused connect;
      // for a bodyless idempotent request nothing was consumed, so that is retryable too.
      if (replayable() && !res.headersSent && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET')) return finish('retryable');
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'hangar-machine': b.machineId, 'x-request-id': requestId });
        res.end(`hangar proxy: machine ${b.machineId} failed to answer (${err.code ?? err.message})\n`);
      } else {
        res.destroy();
      }
      finish('failed');
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
  });
}
