import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { forward, forwardedHeaders, RELAY_HEADER, RELAY_ONLY_HEADER, RELAY_REFUSED_HEADER, RELAY_TOKEN_HEADER, relayHeaders, type ForwardResult, type RelayAuth } from './forward.js';
import { BodyCapture, forcedInstance, unroutable, MAX_REPLAYS, parseReplay, REPLAY_BODY_LIMIT, REPLAY_SRC_HEADER, replaySource, steerForReplay, type Steer } from './replay.js';
import type { Logger } from 'pino';
import type { ProxyMetrics } from './metrics.js';
import type { Backend, PickOptions, RoutingTable } from './routing-table.js';

/** Request headers that steer routing; response header naming the machine. Documented in the README. */
export const PREFER_REGION_HEADERS = ['hangar-prefer-region', 'fly-prefer-region'] as const;
export const MACHINE_HEADER = 'hangar-machine';
/** How long another host's node whose relay failed is left out of picks (renewed by each failure). */
const SUSPECT_MS = 3000;

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
}

/** A machine's answer asking for a replay. */
interface Replayed {
  value: string;
  from: Backend;
}

interface Dedicated {
  app: string;
  server?: Server;
}

/** Why a dedicated port could not be opened: taken, needs privileges the daemon lacks, or anything else. */
export interface PortRefusal {
  port: number;
  reason: 'in_use' | 'privileged' | 'unavailable';
  message: string;
}

function portRefusal(port: number, err: unknown): PortRefusal {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return { port, reason: 'in_use', message: `port ${port} is in use on this host` };
  if (code === 'EACCES' || code === 'EPERM') return { port, reason: 'privileged', message: `port ${port} needs privileges the daemon does not have` };
  return { port, reason: 'unavailable', message: `port ${port} cannot be opened: ${(err as Error).message}` };
}

function closeServer(server: Server): void {
  server.closeAllConnections();
  server.close();
}

/**
 * hangar's proxy: one listener routing by Host to healthy machines of the app, holding requests while no
 * machine is routable (up to the hold window), retrying a refused connect once on another machine,
 * sending a request to exactly one machine when a force header names it, replaying a request where a
 * machine's `fly-replay` answer says (replay.ts), and passing WebSocket upgrades through.
 */
export class ProxyServer {
  private server?: Server;
  private host = '127.0.0.1';
  private opts?: ProxyOptions;
  /** Dedicated listeners: port → app (no server yet while the port is being opened). */
  private readonly dedicated = new Map<number, Dedicated>();
  /** Dedicated ports that could not be opened when the routing asked for them, with why. */
  private readonly failedPorts = new Map<number, { app: string; error: string }>();

  constructor(private readonly log?: Logger) {}

  /** Connects the routing; until then every request is a 404. */
  attach(opts: ProxyOptions): void {
    this.opts = opts;
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    this.host = host;
    this.server = await this.bind(host, port, undefined);
    return { host, port: (this.server.address() as AddressInfo).port };
  }

  /**
   * Opens now the dedicated ports of `app` that it does not hold yet, and says which could not be
   * opened and why; when one could not, none of those opened by this call stays open. A routing
   * change checks its ports with this before it is stored; `setAppPorts` keeps what is open.
   */
  async openAppPorts(app: string, ports: number[]): Promise<PortRefusal[]> {
    const refused: PortRefusal[] = [];
    const opened: number[] = [];
    for (const port of ports) {
      const held = this.dedicated.get(port);
      if (held?.app === app) continue;
      if (held) refused.push({ port, reason: 'in_use', message: `the proxy serves app ${held.app} there` });
      else if (port === this.port()) refused.push({ port, reason: 'in_use', message: "it is the proxy's own port" });
      else {
        const refusal = await this.open(app, port);
        if (refusal) refused.push(refusal);
        else opened.push(port);
      }
    }
    if (refused.length) for (const port of opened) this.closePort(port);
    return refused;
  }

  /** Opens (and closes) the app's dedicated ports, which route to it whatever the Host header says. */
  setAppPorts(app: string, ports: number[]): void {
    for (const [port, l] of this.dedicated) if (l.app === app && !ports.includes(port)) this.closePort(port);
    for (const [port, f] of this.failedPorts) if (f.app === app && !ports.includes(port)) this.failedPorts.delete(port);
    for (const port of ports) {
      const held = this.dedicated.get(port);
      if (held && held.app !== app) this.failedPorts.set(port, { app, error: `port ${port} is app ${held.app}'s` });
      if (held || !this.server) continue;
      void this.open(app, port).then((refusal) => {
        if (refusal) this.log?.error({ app, port, reason: refusal.reason, error: refusal.message }, 'could not open the dedicated port');
      });
    }
  }

  /** The app's dedicated ports that are not open because opening them failed. */
  portsFailed(app: string): Array<{ port: number; error: string }> {
    return [...this.failedPorts].filter(([, f]) => f.app === app).map(([port, f]) => ({ port, error: f.error }));
  }

  /** Binds one dedicated port; a failure is kept for `portsFailed` and returned. */
  private async open(app: string, port: number): Promise<PortRefusal | undefined> {
    const entry: Dedicated = { app };
    this.dedicated.set(port, entry);
    try {
      const server = await this.bind(this.host, port, app);
      // Closed (or given to another app) while it was being opened.
      if (this.dedicated.get(port) !== entry) closeServer(server);
      else entry.server = server;
      this.failedPorts.delete(port);
      return undefined;
    } catch (err) {
      if (this.dedicated.get(port) === entry) this.dedicated.delete(port);
      const refusal = portRefusal(port, err);
      this.failedPorts.set(port, { app, error: refusal.message });
      return refusal;
    }
  }

  private closePort(port: number): void {
    const l = this.dedicated.get(port);
    this.dedicated.delete(port);
    if (l?.server) closeServer(l.server);
  }

  private port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  private async bind(host: string, port: number, app: string | undefined): Promise<Server> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5000 }, (req, res) => void this.handle(req, res, app));
    server.on('upgrade', (req, socket, head) => void this.upgrade(req, socket as Socket, head, app));
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }

  async close(): Promise<void> {
    const all = [...(this.server ? [this.server] : []), ...[...this.dedicated.values()].flatMap((d) => (d.server ? [d.server] : []))];
    this.dedicated.clear();
    await Promise.all(
      all.map((s) => {
        s.closeAllConnections();
        return new Promise<void>((r) => s.close(() => r()));
      }),
    );
  }

  private appOf(req: IncomingMessage, fixed: string | undefined): string | undefined {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
    const app = fixed ?? this.opts?.appForHost(host);
    return app && this.opts!.table.has(app) ? app : undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, fixed?: string): Promise<void> {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    if (req.headers[RELAY_HEADER] !== undefined) return this.relayed(req, res, requestId);
    const app = this.appOf(req, fixed);
    if (!app) return plain(res, 404, `hangar proxy: no app is served at ${req.headers.host ?? '(no Host header)'}\n`, requestId);
    const steer = this.steerOf(app, req);
    if (typeof steer === 'string') return plain(res, 404, steer, requestId);
    const send: Sending = { requestId, capture: BodyCapture.of(req), consumed: false };
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
      const b = await this.target(steer, req, tried, deadline, steer.only !== undefined && attempt > 0);
      if (!b) return void this.unroutable(req, res, steer, send.requestId);
      if (send.consumed && !send.body && !(await this.keptBody(res, send, 'retry'))) return;
      const r = await this.exchange(req, res, b, steer, send);
      if (r.consumed) send.consumed = true;
      if (r.outcome === 'replay') return { value: r.replay!, from: b };
      if (r.outcome !== 'retryable') return;
      if (r.unreachable) this.opts!.table.suspect(b.host, b.port, SUSPECT_MS);
      tried.add(b.machineId);
    }
    for (const id of tried) this.opts!.onProxyError?.(steer.app, { kind: 'connect_failed', machineId: id, message: `Could not connect to machine ${id} (connection refused or reset): 502` });
    plain(res, 502, `hangar proxy: could not connect to a machine of ${steer.app}\n`, send.requestId);
  }

  /** One request/response exchange with `b`, counted in its in-flight number and the metrics. */
  private async exchange(req: IncomingMessage, res: ServerResponse, b: Backend, steer: Steer, send: Sending): Promise<ForwardResult> {
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
      headers: send.source ? { [REPLAY_SRC_HEADER]: send.source } : undefined,
    }).finally(() => {
      table.release(b);
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
    if (!this.relayAllowed(req)) return plain(res, 403, 'hangar proxy: relayed request without a valid cluster token\n', requestId);
    const table = this.opts!.table;
    const b = table.relayTarget(String(req.headers[RELAY_HEADER]), { only: req.headers[RELAY_ONLY_HEADER] !== undefined });
    if (!b) {
      res.setHeader(RELAY_REFUSED_HEADER, '1');
      return plain(res, 503, 'hangar proxy: no routable machine on this host\n', requestId);
    }
    table.acquire(b);
    this.opts!.metrics?.setInflight(b.app, b.machineId, b.inflight);
    await forward(req, res, b, requestId, { relayed: true }).finally(() => {
      table.release(b);
      this.opts!.metrics?.setInflight(b.app, b.machineId, b.inflight);
    });
  }

  private relayAllowed(req: IncomingMessage): boolean {
    const want = this.opts?.relay?.token;
    const got = req.headers[RELAY_TOKEN_HEADER];
    if (!want || typeof got !== 'string' || got.length !== want.length) return false;
    return timingSafeEqual(Buffer.from(got), Buffer.from(want));
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

  /** What the routing table is asked for a request steered by `steer` (not `tried` after a failed connect). */
  private pick(steer: Steer, req: IncomingMessage, tried: Set<string>): Backend | undefined {
    const table = this.opts!.table;
    if (steer.only !== undefined) return table.pick(steer.app, { only: steer.only });
    const base = steer.exclude !== undefined ? new Set([steer.exclude]) : undefined;
    const opts: PickOptions = { region: steer.preferRegion, regions: steer.regions, preferMachine: steer.preferMachine, headers: req.headers, exclude: base };
    if (tried.size === 0) return table.pick(steer.app, opts);
    // A machine that refused the connection is passed over, unless it is the only one left.
    const first = table.pick(steer.app, { ...opts, exclude: new Set([...tried, ...(base ?? [])]) });
    return first ?? table.pick(steer.app, opts);
  }

  /**
   * A routable backend now, or the first one to appear before `deadline` (after the next routing change
   * when `afterChange`: the machine just refused the request and the table has not caught up yet).
   */
  private async target(steer: Steer, req: IncomingMessage, tried: Set<string>, deadline: number, afterChange = false): Promise<Backend | undefined> {
    const table = this.opts!.table;
    const { app } = steer;
    const pick = () => this.pick(steer, req, tried);
    if (!afterChange) {
      const now = pick();
      if (now && (now.softLimit === undefined || now.inflight < now.softLimit)) return now;
      // No machine with room: autostart may bring a stopped one up while this request holds (not for a
      // request to one machine only: autostart would start any machine of the app).
      if (steer.only === undefined) this.opts!.onNoCapacity?.(app);
      if (now) return now;
    }
    const holdMs = deadline - Date.now();
    if (holdMs <= 0) return undefined;
    return new Promise<Backend | undefined>((resolve) => {
      const done = (b: Backend | undefined) => {
        clearTimeout(timer);
        off();
        req.socket.off('close', onClose);
        resolve(b);
      };
      const off = table.onChange((changed) => {
        if (changed !== app) return;
        const b = pick();
        if (b) done(b);
      });
      const timer = setTimeout(() => done(undefined), holdMs);
      const onClose = () => done(undefined);
      req.socket.once('close', onClose);
    });
  }

  private async upgrade(req: IncomingMessage, client: Socket, head: Buffer, fixed?: string): Promise<void> {
    const requestId = (req.headers['x-request-id'] as string | undefined) ?? randomUUID();
    const relayed = req.headers[RELAY_HEADER] !== undefined;
    if (relayed && !this.relayAllowed(req)) return void client.end('HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    const app = relayed ? undefined : this.appOf(req, fixed);
    const steer = app ? this.steerOf(app, req) : undefined;
    const routed = typeof steer === 'object' ? steer : undefined;
    let b: Backend | undefined;
    if (relayed) b = this.opts!.table.relayTarget(String(req.headers[RELAY_HEADER]), { only: req.headers[RELAY_ONLY_HEADER] !== undefined });
    else if (routed) b = await this.target(routed, req, new Set(), Date.now() + this.opts!.table.holdMs(routed.app));
    if (routed && !b) this.unroutableText(req, routed);
    if (!b) {
      client.end(`HTTP/1.1 ${routed || relayed ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const table = this.opts!.table;
    table.acquire(b);
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        table.release(b);
      }
    };
    const up = connect(b.port, b.host, () => {
      const headers: Record<string, string | string[]> = { ...forwardedHeaders(req, requestId, relayed), connection: 'Upgrade', upgrade: String(req.headers.upgrade ?? 'websocket') };
      Object.assign(headers, relayHeaders(b, this.opts!.relay, routed?.only !== undefined));
      let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (const [k, v] of Object.entries(headers)) for (const val of Array.isArray(v) ? v : [v]) head0 += `${k}: ${val}\r\n`;
      up.write(head0 + '\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    const close = () => {
      release();
      up.destroy();
      client.destroy();
    };
    up.on('error', close);
    up.on('close', close);
    client.on('error', close);
    client.on('close', close);
  }
}

function plain(res: ServerResponse, status: number, body: string, requestId: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-request-id': requestId, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
