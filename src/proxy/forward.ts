import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { Agent, H2CClient, type Dispatcher } from 'undici';
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
  /** Another host's node refused the relay because the machine was at its hard limit (outcome `retryable`). */
  full?: boolean;
}

/** A relay to another host's node that has not connected by then is given up (retried elsewhere). */
export const RELAY_CONNECT_TIMEOUT_MS = 1000;
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** How one exchange is forwarded. */
export interface ForwardOptions {
  /** The cluster token, sent when the backend is another host's node. */
  auth?: RelayAuth;
  /** The request was relayed here by another node (which already added the forwarding headers). */
  relayed?: boolean;
  /** The client came over TLS. */
  secure?: boolean;
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
/**
 * Keep-alive pools per machine (undici's Agent keeps one pool per origin). No timeouts of its own: a
 * long poll or an event stream may stay quiet for as long as the client waits. A relay to another
 * host's node that has not connected after RELAY_CONNECT_TIMEOUT_MS is given up (retried elsewhere).
 */
const POOL = { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4000, pipelining: 1 } as const;
const localAgent = new Agent({ ...POOL, connect: { timeout: 10_000 } });
const relayAgent = new Agent({ ...POOL, connect: { timeout: RELAY_CONNECT_TIMEOUT_MS } });
/** Machines with `h2_backend`: one HTTP/2 connection without TLS per machine, many streams on it. */
const h2cAgent = new Agent({ headersTimeout: 0, bodyTimeout: 0, factory: (origin) => new H2CClient(origin, { maxConcurrentStreams: 100, pipelining: 100 }) as unknown as Dispatcher });

/** Hop-by-hop headers are the proxy's own business, never forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);
/** Not sent on: the proxy answers `Expect: 100-continue` itself (node:http does), and undici refuses it. */
const NOT_FORWARDED = new Set(['expect']);

/**
 * A request one node's proxy relays to the node of the machine's host names the machine and carries
 * the cluster's relay token; neither ever reaches a machine, and a client cannot set them.
 */
export const RELAY_HEADER = 'hangar-relay';
export const RELAY_TOKEN_HEADER = 'hangar-relay-token';
/** The machine's node answers a relay it cannot serve (no routable machine there) with this header on a 503. */
export const RELAY_REFUSED_HEADER = 'hangar-relay-refused';
/** The refusal's value when the machine is there but at its hard limit (any other value: nothing routable). */
export const RELAY_FULL = 'full';
/** Set on a relay for one machine only: its node answers with a refusal rather than use another machine. */
export const RELAY_ONLY_HEADER = 'hangar-relay-only';
const RELAY = new Set([RELAY_HEADER, RELAY_TOKEN_HEADER, RELAY_ONLY_HEADER]);
/** Request headers a machine never gets from the client: hop-by-hop, relay, and those the proxy answers itself. */
const NOT_SENT_ON = new Set([...HOP, ...RELAY, ...NOT_FORWARDED]);

/** Where a relayed request goes: the token that proves it comes from a node of the cluster. */
export interface RelayAuth {
  token: string;
}

/**
 * The headers a machine gets: the client's, without hop-by-hop, relay and HTTP/2 pseudo-headers, plus
 * the X-Forwarded-* of this hop (a relayed request already has them from the node it entered at).
 */
export function forwardedHeaders(req: IncomingMessage, requestId: string, how: { relayed?: boolean; secure?: boolean } = {}): Record<string, string | string[]> {
  const { relayed = false, secure = false } = how;
  const out: Record<string, string | string[]> = {};
  const given = req.headers;
  for (const k in given) {
    const v = given[k];
    if (v !== undefined && k[0] !== ':' && !NOT_SENT_ON.has(k)) out[k] = v;
  }
  const peer = relayed ? undefined : (req.socket.remoteAddress ?? '');
  if (peer !== undefined) out['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${req.headers['x-forwarded-for']}, ${peer}` : peer;
  if (!relayed) out['x-forwarded-proto'] = secure ? 'https' : 'http';
  if (!relayed) out['x-forwarded-host'] = req.headers.host ?? '';
  out['x-request-id'] = requestId;
  return out;
}

/** Whether a relayed request carries this cluster's relay token. */
export function relayAllowed(req: IncomingMessage, auth: RelayAuth | undefined): boolean {
  const want = auth?.token;
  const got = req.headers[RELAY_TOKEN_HEADER];
  if (!want || typeof got !== 'string' || got.length !== want.length) return false;
  return timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

/** The relay headers a request to another host's node carries (none for this host's machines). */
export function relayHeaders(b: Backend, auth: RelayAuth | undefined, only: boolean | undefined): Record<string, string> {
  if (!b.remote || !auth) return {};
  return { [RELAY_HEADER]: b.machineId, [RELAY_TOKEN_HEADER]: auth.token, ...(only ? { [RELAY_ONLY_HEADER]: '1' } : {}) };
}

/**
 * Streams `req` (or the kept `opts.body`) to the backend and the answer back to `res`, over undici's
 * keep-alive pools. The request body only starts to flow once the request has a connected socket, so
 * a refused or reset connect can be retried on another machine without losing a byte.
 */
export function forward(req: IncomingMessage, res: ServerResponse, b: Backend, requestId: string, opts: ForwardOptions = {}): Promise<ForwardResult> {
  return new Promise<ForwardResult>((resolve) => {
    let sent = false;
    let consumed = false;
    let settled = false;
    let unreachable = false;
    let full = false;
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let controller: Dispatcher.DispatchController | undefined;
    const finish = (outcome: ForwardResult['outcome'], replay?: string) => {
      if (settled) return;
      settled = true;
      // Answered before the client finished sending (or failed): the rest of the body is read and
      // dropped, or an HTTP/2 client would wait forever for flow-control room on its stream.
      if ((outcome === 'done' || outcome === 'failed') && pipe && consumed && !req.readableEnded) {
        req.unpipe(pipe);
        req.resume();
      }
      resolve({ outcome, status, bytesIn, bytesOut, consumed, replay, unreachable, full });
    };
    const headers = forwardedHeaders(req, requestId, { relayed: opts.relayed, secure: opts.secure });
    if (b.remote) Object.assign(headers, relayHeaders(b, opts.auth, opts.only));
    if (opts.headers) Object.assign(headers, opts.headers);
    if (opts.body && (opts.body.length > 0 || headers['content-length'] !== undefined)) headers['content-length'] = String(opts.body.length);
    // The request's own stream is handed over through a pipe of ours: undici may destroy what it was
    // given, and the client's request must outlive a failed try.
    const hasBody = opts.body !== undefined ? opts.body.length > 0 : req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const pipe = opts.body === undefined && hasBody ? new PassThrough() : undefined;
    // After a failure the machine may have acted on what it got: only a bodyless idempotent request goes again.
    const replayable = () => !sent || (IDEMPOTENT.has(req.method ?? '') && !req.headers['content-length'] && !req.headers['transfer-encoding']);
    // A relay refusal reached no machine: the request can go again whenever its body can.
    const resendable = () => replayable() || opts.body !== undefined || (opts.capture?.resendable ?? false);
    // The body of a request that will not go on to this machine stops flowing to it.
    const abandon = () => {
      if (pipe) req.unpipe(pipe);
      controller?.abort(new Error('abandoned'));
    };
    const startBody = () => {
      if (sent) return;
      sent = true;
      if (opts.body) return void (bytesIn += opts.body.length);
      if (!pipe) return;
      consumed = true;
      req.on('data', (c: Buffer) => (bytesIn += c.length));
      opts.capture?.attach(req);
      req.pipe(pipe);
    };
    const failed = (err: NodeJS.ErrnoException) => {
      // Ended already (a replay or refusal abandoned this exchange): the client's answer is not ours to write.
      if (settled) return;
      const code = err.code ?? '';
      if (b.remote && !sent && UNREACHABLE.has(code)) unreachable = true;
      // A reused keep-alive socket the machine had just closed fails like a refused connect; for a
      // bodyless idempotent request nothing was consumed, so that is retryable too.
      if (replayable() && !res.headersSent && (code === 'ECONNREFUSED' || RESET.has(code) || unreachable)) return finish('retryable');
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'hangar-machine': b.machineId, 'x-request-id': requestId });
        res.end(`hangar proxy: machine ${b.machineId} failed to answer (${code || err.message})\n`);
      } else {
        res.destroy();
      }
      finish('failed');
    };
    res.on('close', () => {
      if (!(res.writableFinished ?? res.finished)) controller?.abort(new Error('the client went away'));
    });
    res.on('drain', () => controller?.resume());
    let passing = false;
    (b.remote ? relayAgent : b.h2 ? h2cAgent : localAgent).dispatch(
      { origin: `http://${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`, path: req.url ?? '/', method: (req.method ?? 'GET') as Dispatcher.HttpMethod, headers, body: opts.body ?? pipe ?? null },
      {
        onRequestStart: (c) => {
          controller = c;
          startBody();
        },
        onResponseStart: (_c, code, upHeaders, statusMessage) => {
          // Informational answers (100, 103) are the machine's own business.
          if (code < 200) return;
          status = code;
          // The machine's node had nothing to hand the request to: another machine can take it.
          if (b.remote && upHeaders[RELAY_REFUSED_HEADER] && resendable() && !res.headersSent) {
            full = upHeaders[RELAY_REFUSED_HEADER] === RELAY_FULL;
            finish('retryable');
            return abandon();
          }
          const replay = opts.replays ? upHeaders[REPLAY_HEADER] : undefined;
          if (typeof replay === 'string' && !res.headersSent) {
            // Settled first: the abort below reports an error synchronously, which must not answer the client.
            finish('replay', replay);
            return abandon();
          }
          opts.capture?.release();
          const out: Record<string, string | string[]> = {};
          for (const k in upHeaders) {
            const v = upHeaders[k];
            if (v !== undefined && !HOP.has(k) && k !== RELAY_REFUSED_HEADER) out[k] = v;
          }
          // Relayed: the other node may have handed it to another of its machines; it names the one that answered.
          const answered = upHeaders['hangar-machine'];
          out['hangar-machine'] = b.remote && typeof answered === 'string' ? answered : b.machineId;
          out['x-request-id'] = requestId;
          passing = true;
          // HTTP/2 has no reason phrase (and warns when given one).
          if (req.httpVersionMajor === 2) res.writeHead(code, out);
          else res.writeHead(code, statusMessage ?? '', out);
        },
        onResponseData: (c, chunk) => {
          if (!passing) return;
          bytesOut += chunk.length;
          if (!res.write(chunk)) c.pause();
        },
        onResponseEnd: () => {
          if (!passing) return;
          res.end();
          finish('done');
        },
        onResponseError: (_c, err) => failed(err as NodeJS.ErrnoException),
      },
    );
  });
}

/** Error codes of a connection the machine closed under a request (a keep-alive race, a crash). */
const RESET = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);
