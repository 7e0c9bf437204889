import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Socket } from 'node:net';
import type { CertificateSource } from '../core/certs.js';
import { DedicatedPorts } from './dedicated-ports.js';
import { listenPlain, listenTls, type Arrival, type ListenerHandlers, type PortRefusal, type ProxyListener } from './listeners.js';
import { pipeUpgrade } from './upgrade.js';
import { Targets } from './targets.js';
import { answerChallenge, hostOf, isChallenge, plain, redirectToHttps } from './answers.js';
import type { Held, Permits } from './permits.js';
import { forward, forwardedHeaders, RELAY_FULL, RELAY_HEADER, RELAY_ONLY_HEADER, RELAY_REFUSED_HEADER, relayAllowed, relayHeaders, type ForwardResult, type RelayAuth } from './forward.js';
import { BodyCapture, forcedInstance, unroutable, MAX_REPLAYS, parseReplay, REPLAY_BODY_LIMIT, REPLAY_SRC_HEADER, replaySource, steerForReplay, type Steer } from './replay.js';
import type { Logger } from 'pino';
import type { ProxyMetrics } from './metrics.js';
import type { Backend, RoutingTable } from './routing-table.js';

/** Request headers that steer routing; response header naming the machine. Documented in the README. */
export const PREFER_REGION_HEADERS = ['hangar-prefer-region', 'fly-prefer-region'] as const;
export const MACHINE_HEADER = 'hangar-machine';
/** How long another host's node whose relay failed is left out of picks (renewed by each failure). */
const SUSPECT_MS = 3000;
/** How long another host's machine that was full is passed over before it is asked again. */
const FULL_RETRY_MS = 25;

export interface ProxyOptions {
  table: RoutingTable;
  /** Where each forwarded request is counted (status class, latency, bytes). */
  metrics?: ProxyMetrics;
  /** No machine of `app` has room for a request (none routable, or all over their soft limit). */
  onNoCapacity?: (app: string) => void;
  /** Maps a Host header (without port) to an app name: `<app>.localhost` plus configured hostnames. */
  appForHost: (host: string) => string | undefined;
  /** The proxy answered a request of `app` with its own 502/503 (for `hangar logs`). */
  onProxyError?: (app: string, e: ProxyError) => void;
  /** In a cluster: the token relayed requests carry between nodes (and must carry to be served). */
  relay?: RelayAuth;
  /** Certificates for the TLS listeners, and the answers to ACME HTTP-01 challenges. */
  certs?: CertificateSource;
  /** Whether plain HTTP requests of `app` are redirected to HTTPS (`force_https`). */
  forceHttps?: (app: string) => boolean;
  /** In a worker: places on limited machines, counted over every worker. */
  permits?: Permits;
  /**
   * In a worker: whether the connection of this request is closed once it is answered (HTTP/1.1
   * `Connection: close`, HTTP/2 GOAWAY), so that the client reopens it on another worker.
   */
  shed?: () => boolean;
}

export type { PortRefusal } from './listeners.js';

/** Ends a request's connection once it is answered: `Connection: close` on HTTP/1.x, GOAWAY on HTTP/2. */
function closeAfter(req: IncomingMessage, res: ServerResponse): void {
  if (req.httpVersionMajor === 2) (req as unknown as Http2ServerRequest).stream.session?.close();
  else res.shouldKeepAlive = false;
}


/**
 * Why the proxy failed a request itself: no routable machine within the hold window, the machine's port
 * refused or reset the connection (on every try), the machine failed before answering, or a machine's
 * `fly-replay` could not be followed.
 */
export interface ProxyError {
  kind: 'no_healthy_machine' | 'connect_failed' | 'upstream_failed' | 'replay_failed';
  message: string;
  machineId?: string;
}

/** What each hop of one request sends: its own stream until that was read, then the kept copy. */
interface Sending {
  requestId: string;
  capture: BodyCapture;
  consumed: boolean;
  body?: Buffer;
  /** `fly-replay-src` of a replayed request. */
  source?: string;
  /** The client came over TLS (X-Forwarded-Proto). */
  secure: boolean;
}

/** A machine's answer asking for a replay. */
interface Replayed {
  value: string;
  from: Backend;
}

/**
 * hangar's proxy: listeners routing by Host to healthy machines of the app, holding requests while no
 * machine is routable (up to the hold window), retrying a refused connect once on another machine,
 * sending a request to exactly one machine when a force header names it, replaying a request where a
 * machine's `fly-replay` answer says (replay.ts), and passing WebSocket upgrades through. TLS is
 * terminated on the TLS listener and on apps' TLS ports (listeners.ts); the plain listener answers ACME
 * HTTP-01 challenges and redirects the apps that force HTTPS.
 */
export class ProxyServer {
  private main?: ProxyListener;
  private tls?: ProxyListener;
  private host = '127.0.0.1';
  private opts?: ProxyOptions;
  private targets!: Targets;
  private readonly handlers: ListenerHandlers = {
    request: (req, res, at) => void this.handle(req, res, at),
    upgrade: (req, socket, head, at) => void this.upgrade(req, socket, head, at),
  };
  private readonly dedicated: DedicatedPorts;

  constructor(private readonly log?: Logger) {
    this.dedicated = new DedicatedPorts({
      bind: (port, app, tls) => (tls ? this.bindTls(this.host, port, app) : listenPlain(this.host, port, this.handlers, app)),
      ownPorts: () => [this.main?.port, this.tls?.port].filter((p): p is number => p !== undefined),
      log,
    });
  }

  /** Connects the routing; until then every request is a 404. */
  attach(opts: ProxyOptions): void {
    this.opts = opts;
    this.targets = new Targets({ table: opts.table, permits: opts.permits, onNoCapacity: opts.onNoCapacity });
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    this.host = host;
    this.main = await listenPlain(host, port, this.handlers);
    return { host, port: this.main.port };
  }

  /** The TLS listener (the `443` of `[http_service]`): certificates by SNI, h2 and http/1.1. */
  async listenTls(host: string, port: number): Promise<{ host: string; port: number }> {
    this.tls = await this.bindTls(host, port, undefined);
    return { host, port: this.tls.port };
  }

  private bindTls(host: string, port: number, app: string | undefined): Promise<ProxyListener> {
    const certs = this.opts?.certs;
    if (!certs) return Promise.reject(new Error('the proxy has no certificate store'));
    return listenTls(host, port, this.handlers, certs, this.log, app);
  }

  /**
   * Opens now the dedicated ports of `app` that it does not hold yet, and says which could not be
   * opened and why; when one could not, none of those opened by this call stays open. A routing
   * change checks its ports with this before it is stored; `setAppPorts` keeps what is open.
   */
  openAppPorts(app: string, ports: number[], tlsPorts: number[] = []): Promise<PortRefusal[]> {
    return this.dedicated.openNow(app, ports, tlsPorts);
  }

  /** Opens (and closes) the app's dedicated ports, which route to it whatever the Host header says. */
  setAppPorts(app: string, ports: number[], tlsPorts: number[] = []): Promise<void> {
    return this.dedicated.set(app, ports, tlsPorts);
  }

  /** The app's dedicated ports that are not open because opening them failed. */
  portsFailed(app: string): Array<{ port: number; error: string }> {
    return this.dedicated.failures(app);
  }

  async close(): Promise<void> {
    await Promise.all([this.main?.close(), this.tls?.close(), this.dedicated.closeAll()]);
  }

  private appOf(req: IncomingMessage, fixed: string | undefined): string | undefined {
    const host = hostOf(req);
    const app = fixed ?? this.opts?.appForHost(host) ?? this.opts?.certs?.appFor(host);
    return app && this.opts!.table.has(app) ? app : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, at: Arrival): Promise<void> {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    if (this.opts?.shed?.()) closeAfter(req, res);
    if (!at.secure && req.headers[RELAY_HEADER] !== undefined) return this.relayed(req, res, requestId);
    if (!at.secure && isChallenge(req) && (await answerChallenge(req, res, requestId, this.opts!.certs))) return;
    const app = this.appOf(req, at.app);
    if (!app) return plain(res, 404, `hangar proxy: no app is served at ${req.headers.host ?? '(no Host header)'}\n`, requestId);
    if (!at.secure && this.opts!.forceHttps?.(app) && this.tls) return redirectToHttps(req, res, requestId, this.tls.port);
    const steer = this.steerOf(app, req);
    if (typeof steer === 'string') return plain(res, 404, steer, requestId);
    const send: Sending = { requestId, capture: BodyCapture.of(req), consumed: false, secure: at.secure };
    let hop: Steer | undefined = steer;
    for (let replays = 0; hop; replays++) {
      const asked = await this.deliver(req, res, hop, send);
      hop = asked && (await this.replayHop(res, asked, hop, send, replays));
    }
  }

  /**
   * How a request entering here is routed: to the app's machines, or to exactly the one a force header
   * names (a string: the 404 for a machine the app does not have). A client cannot claim to be a replay.
   */
  private steerOf(app: string, req: IncomingMessage): Steer | string {
    if (req.headers[REPLAY_SRC_HEADER] !== undefined) delete req.headers[REPLAY_SRC_HEADER];
    const preferRegion = PREFER_REGION_HEADERS.map((h) => req.headers[h]).find((v): v is string => typeof v === 'string');
    const forced = forcedInstance(req.headers);
    if (!forced) return { app, preferRegion };
    if (!this.opts!.table.knows(app, forced.machineId)) return `hangar proxy: app ${app} has no machine ${forced.machineId} (${forced.header})\n`;
    return { app, only: forced.machineId, onlyBy: forced.header };
  }

  /**
   * One hop of a request: a machine chosen by `steer` (held for within the hold window), the exchange,
   * and a second machine when the first refused the connection. A request for one machine only is tried
   * again on it, after its routing changed, until the hold window ends. Resolves with the `fly-replay`
   * the machine answered with, or undefined once the client has its answer.
   */
  private async deliver(req: IncomingMessage, res: ServerResponse, steer: Steer, send: Sending): Promise<Replayed | undefined> {
    const tried = new Set<string>();
    const deadline = Date.now() + this.opts!.table.holdMs(steer.app);
    for (let attempt = 0; steer.only !== undefined || attempt < 2; attempt++) {
      const held = await this.targets.target(steer, req, tried, deadline, steer.only !== undefined && attempt > 0);
      if (!held) return void this.unroutable(req, res, steer, send.requestId);
      const { b } = held;
      if (send.consumed && !send.body && !(await this.keptBody(res, send, 'retry'))) return void held.done();
      const r = await this.exchange(req, res, held, steer, send);
      if (r.consumed) send.consumed = true;
      if (r.outcome === 'replay') return { value: r.replay!, from: b };
      if (r.outcome !== 'retryable') return;
      if (r.full) {
        // Held like a full machine here: passed over for a moment, asked again within the hold window.
        this.opts!.table.markFull(b, FULL_RETRY_MS);
        attempt--;
        continue;
      }
      if (r.unreachable) this.opts!.table.suspect(b.host, b.port, SUSPECT_MS);
      tried.add(b.machineId);
    }
    for (const id of tried) this.opts!.onProxyError?.(steer.app, { kind: 'connect_failed', machineId: id, message: `Could not connect to machine ${id} (connection refused or reset): 502` });
    plain(res, 502, `hangar proxy: could not connect to a machine of ${steer.app}\n`, send.requestId);
  }

  /** One request/response exchange with `b`, counted in its in-flight number and the metrics. */
  private async exchange(req: IncomingMessage, res: ServerResponse, held: Held, steer: Steer, send: Sending): Promise<ForwardResult> {
    const { b } = held;
    const table = this.opts!.table;
    const metrics = this.opts!.metrics;
    table.acquire(b);
    metrics?.setInflight(b.app, b.machineId, b.inflight);
    const t0 = performance.now();
    const r = await forward(req, res, b, send.requestId, {
      auth: this.opts!.relay,
      only: steer.only !== undefined,
      body: send.body,
      capture: send.consumed ? undefined : send.capture,
      replays: true,
      secure: send.secure,
      headers: send.source ? { [REPLAY_SRC_HEADER]: send.source } : undefined,
    }).finally(() => {
      table.release(b);
      held.done();
      metrics?.setInflight(b.app, b.machineId, b.inflight);
    });
    metrics?.record({ app: b.app, machineId: b.machineId, status: r.status, durationMs: performance.now() - t0, bytesIn: r.bytesIn, bytesOut: r.bytesOut });
    // No status from the machine and a client still there: forward answered the 502 itself.
    if (r.outcome === 'failed' && r.status === 0 && !req.socket.destroyed) this.opts!.onProxyError?.(b.app, { kind: 'upstream_failed', machineId: b.machineId, message: `Machine ${b.machineId} failed before answering: 502` });
    return r;
  }

  /**
   * A machine answered with `fly-replay`: the steering of the replay (with its `fly-replay-src` and the
   * kept body ready), or undefined once the proxy answered the client itself: a header it cannot follow
   * or a target that does not exist (502), one replay too many (508), a body too big to replay (413).
   */
  private async replayHop(res: ServerResponse, asked: Replayed, steer: Steer, send: Sending, replays: number): Promise<Steer | undefined> {
    const { from } = asked;
    const fail = (status: number, text: string) => {
      this.opts!.onProxyError?.(from.app, { kind: 'replay_failed', machineId: from.machineId, message: `${text}: ${status}` });
      plain(res, status, `hangar proxy: ${text}\n`, send.requestId);
      return undefined;
    };
    const parsed = parseReplay(asked.value);
    if (!parsed.ok) return fail(502, `machine ${from.machineId} of app ${from.app} answered with a fly-replay header the proxy cannot follow (${parsed.error}): ${asked.value}`);
    if (replays >= MAX_REPLAYS) return fail(508, `the request was replayed ${MAX_REPLAYS} times (fly-replay), the most the proxy does, and machine ${from.machineId} of app ${from.app} asked for another`);
    const next = steerForReplay(parsed.value, from, steer);
    const table = this.opts!.table;
    if (!table.has(next.app)) return fail(502, `machine ${from.machineId} asked to replay the request to app ${next.app}, which this hangar does not serve`);
    if (next.only && !table.knows(next.app, next.only)) return fail(502, `machine ${from.machineId} asked to replay the request to machine ${next.only}, which is not a machine of app ${next.app}`);
    if (!(await this.keptBody(res, send, 'replay'))) return undefined;
    send.source = replaySource(from.machineId, from.region, parsed.value.state);
    return next;
  }

  /**
   * Makes sure the request can be sent again once its stream has been read: the kept copy, waited for
   * until the client has sent all of it. False once the proxy answered instead (the body was over the
   * limit, or the client left).
   */
  private async keptBody(res: ServerResponse, send: Sending, why: 'retry' | 'replay'): Promise<boolean> {
    if (!send.consumed || send.body) return true;
    const state = await send.capture.settled();
    if (state === 'complete') {
      send.body = send.capture.body();
      return true;
    }
    if (state === 'aborted') return void res.destroy(), false;
    const limit = `${REPLAY_BODY_LIMIT / (1024 * 1024)} MB`;
    if (why === 'replay') plain(res, 413, `hangar proxy: a machine asked to replay the request (fly-replay), but its body is over ${limit}, the most the proxy keeps to replay\n`, send.requestId);
    else plain(res, 502, `hangar proxy: the request could not be sent again: its body is over ${limit}, the most the proxy keeps\n`, send.requestId);
    return false;
  }

  /**
   * A request another node's proxy relayed here for one of this host's machines: handed to it on
   * loopback (or, unless it is for that machine only, to another machine of the app here), or refused
   * so the relaying node picks again.
   */
  private async relayed(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    if (!relayAllowed(req, this.opts?.relay)) return plain(res, 403, 'hangar proxy: relayed request without a valid cluster token\n', requestId);
    const table = this.opts!.table;
    const b = table.relayTarget(String(req.headers[RELAY_HEADER]), { only: req.headers[RELAY_ONLY_HEADER] !== undefined });
    const done = b && (await this.targets.place(b));
    if (!b || !done) {
      // Full (every node's requests to it count here): the relaying node holds the request and asks again.
      res.setHeader(RELAY_REFUSED_HEADER, b || table.atLimit(String(req.headers[RELAY_HEADER])) ? RELAY_FULL : '1');
      return plain(res, 503, 'hangar proxy: no routable machine on this host\n', requestId);
    }
    table.acquire(b);
    this.opts!.metrics?.setInflight(b.app, b.machineId, b.inflight);
    await forward(req, res, b, requestId, { relayed: true }).finally(() => {
      table.release(b);
      done();
      this.opts!.metrics?.setInflight(b.app, b.machineId, b.inflight);
    });
  }

  /** No machine for the request within the hold window: a 503 saying which machine, region or app. */
  private unroutable(req: IncomingMessage, res: ServerResponse, steer: Steer, requestId: string): void {
    plain(res, 503, `hangar proxy: ${this.unroutableText(req, steer)}\n`, requestId);
  }

  /** Why a held request found no machine (reported for `hangar logs` unless the client left first). */
  private unroutableText(req: IncomingMessage, steer: Steer): string {
    const why = unroutable(steer, this.opts!.table.holdMs(steer.app));
    if (!req.socket.destroyed) this.opts!.onProxyError?.(steer.app, { kind: 'no_healthy_machine', machineId: steer.only, message: why.log });
    return why.answer;
  }

  private async upgrade(req: IncomingMessage, client: Socket, head: Buffer, at: Arrival): Promise<void> {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    const relayed = !at.secure && req.headers[RELAY_HEADER] !== undefined;
    if (relayed && !relayAllowed(req, this.opts?.relay)) return void client.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    const app = relayed ? undefined : this.appOf(req, at.app);
    const steer = app ? this.steerOf(app, req) : undefined;
    const routed = typeof steer === 'object' ? steer : undefined;
    let held: Held | undefined;
    if (relayed) {
      const r = this.opts!.table.relayTarget(String(req.headers[RELAY_HEADER]), { only: req.headers[RELAY_ONLY_HEADER] !== undefined });
      const done = r && (await this.targets.place(r));
      held = r && done ? { b: r, done } : undefined;
    } else if (routed) held = await this.targets.target(routed, req, new Set(), Date.now() + this.opts!.table.holdMs(routed.app));
    if (routed && !held) this.unroutableText(req, routed);
    if (!held) {
      client.end(`HTTP/1.1 ${routed || relayed ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const headers: Record<string, string | string[]> = { ...forwardedHeaders(req, requestId, { relayed, secure: at.secure }), connection: 'Upgrade', upgrade: String(req.headers.upgrade ?? 'websocket') };
    Object.assign(headers, relayHeaders(held.b, this.opts!.relay, routed?.only !== undefined));
    pipeUpgrade(req, client, head, held, headers, this.opts!.table);
  }
}
