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

export function forwardedHeaders(req: IncomingMessage, requestId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  const peer = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${peer}` : peer;
  out['x-forwarded-proto'] = 'http';
  out['x-forwarded-host'] = req.headers.host ?? '';
  out['x-request-id'] = requestId;
  return out;
}

/**
 * Streams `req` to the backend and the answer back to `res`. The request body is only piped once the
 * upstream socket is connected, so a refused or reset connect can be retried on another machine without
 * losing a byte.
 */
export function forward(req: IncomingMessage, res: ServerResponse, b: Backend, requestId: string): Promise<ForwardResult> {
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
    const up = request({ host: b.host, port: b.port, method: req.method, path: req.url, headers: forwardedHeaders(req, requestId), agent });
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
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
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
      const replayable = !sent || (IDEMPOTENT.has(req.method ?? '') && !req.headers['content-length'] && !req.headers['transfer-encoding']);
      if (replayable && !res.headersSent && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET')) return finish('retryable');
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
