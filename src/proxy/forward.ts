import { Agent, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { BodyCapture } from './replay.js';
import { REPLAY_HEADER } from './replay.js';
import type { Backend } from './routing-table.js';

/**
 * How one forwarded exchange ended. `retryable`: nothing reached a machine (the connection failed before
 * any byte went upstream, or the machine's node handed the request to no machine); `replay`: the machine
 * answered with `fly-replay` and nothing was sent to the client.
 */
export interface ForwardResult {
  outcome: 'done' | 'retryable' | 'failed' | 'replay';
  /** The machine's status code, 0 when it never answered. */
  status: number;
  bytesIn: number;
  bytesOut: number;
  /** Whether the request's own body stream was read: a later try must send a kept copy. */
  consumed: boolean;
  /** The machine's `fly-replay` value (outcome `replay`). */
  replay?: string;
  /** Another host's node could not be connected to at all (refused, unreachable, or no answer in time). */
  unreachable?: boolean;
}

/** A relay to another host's node that has not connected by then is given up (retried elsewhere). */
export const RELAY_CONNECT_TIMEOUT_MS = 1000;
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);

/** How one exchange is forwarded. */
export interface ForwardOptions {
  /** The cluster token, sent when the backend is another host's node. */
  auth?: RelayAuth;
  /** The request was relayed here by another node (which already added the forwarding headers). */
  relayed?: boolean;
  /** Relayed for that machine only (forced or replayed to it): its node must hand it to no other. */
  only?: boolean;
  /** Sent instead of piping the request's stream (a body already read, kept by `capture`). */
  body?: Buffer;
  /** Keeps the piped body for a replay; released once the machine answers without one. */
  capture?: BodyCapture;
  /** A `fly-replay` answer is not passed on: the exchange ends with outcome `replay`. */
  replays?: boolean;
  /** Added to the forwarded request (`fly-replay-src`). */
  headers?: Record<string, string>;
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
/** Set on a relay for one machine only: its node answers with a refusal rather than use another machine. */
export const RELAY_ONLY_HEADER = 'hangar-relay-only';
const RELAY = new Set([RELAY_HEADER, RELAY_TOKEN_HEADER, RELAY_ONLY_HEADER]);

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

/** The relay headers a request to another host's node carries (none for this host's machines). */
export function relayHeaders(b: Backend, auth: RelayAuth | undefined, only: boolean | undefined): Record<string, string> {
  if (!b.remote || !auth) return {};
  return { [RELAY_HEADER]: b.machineId, [RELAY_TOKEN_HEADER]: auth.token, ...(only ? { [RELAY_ONLY_HEADER]: '1' } : {}) };
}

/**
 * Streams `req` (or the kept `opts.body`) to the backend and the answer back to `res`. The request body
 * is only sent once the upstream socket is connected, so a refused or reset connect can be retried on
 * another machine without losing a byte.
 */
export function forward(req: IncomingMessage, res: ServerResponse, b: Backend, requestId: string, opts: ForwardOptions = {}): Promise<ForwardResult> {
  return new Promise<ForwardResult>((resolve) => {
    let sent = false;
    let consumed = false;
    let settled = false;
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    const finish = (outcome: ForwardResult['outcome'], replay?: string) => {
      if (!settled) {
        settled = true;
        resolve({ outcome, status, bytesIn, bytesOut, consumed, replay, unreachable });
      }
    };
    const headers = forwardedHeaders(req, requestId, opts.relayed);
    if (b.remote) Object.assign(headers, relayHeaders(b, opts.auth, opts.only));
    if (opts.headers) Object.assign(headers, opts.headers);
    if (opts.body && (opts.body.length > 0 || headers['content-length'] !== undefined)) headers['content-length'] = String(opts.body.length);
    const up = request({ host: b.host, port: b.port, method: req.method, path: req.url, headers, agent });
    // After a failure the machine may have acted on what it got: only a bodyless idempotent request goes again.
    const replayable = () => !sent || (IDEMPOTENT.has(req.method ?? '') && !req.headers['content-length'] && !req.headers['transfer-encoding']);
    // A relay refusal reached no machine: the request can go again whenever its body can.
    const resendable = () => replayable() || opts.body !== undefined || (opts.capture?.resendable ?? false);
    // The body of a request that will not go on to this machine stops flowing to it.
    const abandon = () => {
      if (consumed && !req.readableEnded) {
        req.unpipe(up);
        up.destroy();
      }
    };
    const startBody = () => {
      if (sent) return;
      sent = true;
      if (opts.body) {
        bytesIn += opts.body.length;
        return void up.end(opts.body);
      }
      consumed = true;
      req.on('data', (c: Buffer) => (bytesIn += c.length));
      opts.capture?.attach(req);
      req.pipe(up);
    };
    let unreachable = false;
    up.on('socket', (s) => {
      if (!s.connecting) return startBody();
      s.once('connect', startBody);
      if (!b.remote) return;
      // A host cut off answers nothing: do not wait the system's connect timeout for it.
      const timer = setTimeout(() => up.destroy(Object.assign(new Error('the node did not accept the relay in time'), { code: 'ETIMEDOUT' })), RELAY_CONNECT_TIMEOUT_MS);
      s.once('connect', () => clearTimeout(timer));
      s.once('close', () => clearTimeout(timer));
    });
    up.on('response', (ur) => {
      // The machine's node had nothing to hand the request to: another machine can take it.
      if (b.remote && ur.headers[RELAY_REFUSED_HEADER] && resendable() && !res.headersSent) {
        ur.resume();
        abandon();
        return finish('retryable');
      }
      const replay = opts.replays ? ur.headers[REPLAY_HEADER] : undefined;
      if (typeof replay === 'string' && !res.headersSent) {
        status = ur.statusCode ?? 0;
        ur.resume();
        abandon();
        return finish('replay', replay);
      }
      opts.capture?.release();
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(ur.headers)) if (v !== undefined && !HOP.has(k) && k !== RELAY_REFUSED_HEADER) headers[k] = v;
      // Relayed: the other node may have handed it to another of its machines; it names the one that answered.
      const answered = ur.headers['hangar-machine'];
      headers['hangar-machine'] = b.remote && typeof answered === 'string' ? answered : b.machineId;
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
      // Ended already (a replay or refusal abandoned this exchange): the client's answer is not ours to write.
      if (settled) return;
      // A reused keep-alive socket the machine had just closed fails the same way as a refused connect;
      // for a bodyless idempotent request nothing was consumed, so that is retryable too.
      if (b.remote && !sent && err.code && UNREACHABLE.has(err.code)) unreachable = true;
      if (replayable() && !res.headersSent && (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || unreachable)) return finish('retryable');
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
