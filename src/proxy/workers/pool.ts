/**
 * The daemon's side of the proxy workers: forks them (node:cluster shares the listening sockets, each
 * worker accepting for itself), keeps their copies of the routing table current, and adds up what they
 * report. A worker that dies is replaced; only the requests it was serving fail.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';
import type { CertificateSource } from '../../core/certs.js';
import type { TrafficWindows, WindowCounts, WindowScope, WindowStats } from '../../core/window-stats.js';
import type { PortRefusal } from '../listeners.js';
import { addCounts, emptyCounts, statsOf } from '../metrics.js';
import type { ProxyError } from '../proxy-server.js';
import { keyOf, type RoutingTable } from '../routing-table.js';
import { Packing, type PackingOptions, type Shed } from './packing.js';
import type { Address, CertPem, FromWorker, HostView, ToWorker, WorkerAnswers, WorkerQuery } from './protocol.js';

export interface ProxyWorkersDeps {
  count: number;
  table: RoutingTable;
  log: Logger;
  /** Where workers write their log lines (the daemon's log file). */
  logFile?: string;
  relayToken?: string;
  hosts: () => HostView;
  certs: CertificateSource & { pems?: () => CertPem[] };
  onNoCapacity?: (app: string) => void;
  onProxyError?: (app: string, e: ProxyError) => void;
  /** How connections are packed onto one worker at low traffic (packing.ts); false: never. */
  packing?: PackingOptions | false;
}

/** How long a question to the workers may take before it is answered without the slow ones. */
const ASK_TIMEOUT_MS = 10_000;
/** A worker that dies is replaced after this, doubling while they keep dying (up to 5 s). */
const RESPAWN_MS = 100;

interface Running {
  worker: Worker;
  ready: boolean;
  /** Sent its init: from then on it gets every change. */
  inited: boolean;
  /** Places it holds on limited instances, per instance key: app, machine, instance, count. */
  places: Map<string, [string, string, string, number]>;
  /** Its in-flight figures per instance key: [app, machine, instance, count, last activity]. */
  inflight: Map<string, [string, string, string, number, number]>;
}

export class ProxyWorkers implements TrafficWindows {
  readonly contentType = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;
  private readonly running = new Map<number, Running>();
  private readonly waiting = new Map<number, { worker: number; resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly ports = new Map<string, { ports: number[]; tlsPorts: number[] }>();
  private readonly failed = new Map<string, Array<{ port: number; error: string }>>();
  private nextId = 1;
  private listen?: Address;
  private tls?: Address;
  private closing = false;
  private respawnMs = RESPAWN_MS;
  /** Packs the connections onto one worker while the proxy is far from busy. */
  private readonly packing?: Packing;

  constructor(private readonly deps: ProxyWorkersDeps) {
    if (deps.packing !== false) this.packing = new Packing(deps.packing);
    // Every change of the daemon's table goes to each worker's copy, in order.
    deps.table.onOp = (op) => this.broadcast({ t: 'op', op });
    deps.table.drainVia = (machineId, instanceId, timeoutMs) => this.ask({ q: 'drain', machineId, instanceId, timeoutMs }, timeoutMs + 1000).then(() => undefined);
  }

  /** Starts the workers on the proxy's addresses; resolves with the ports they listen on. */
  async start(listen: Address, tls?: Address): Promise<{ port: number; tlsPort?: number }> {
    this.listen = listen;
    this.tls = tls;
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: fileURLToPath(new URL('./worker-main.js', import.meta.url)), args: [], silent: false });
    const first = await this.fork();
    // The others share the ports the first one got (an ephemeral port stays the same for all).
    this.listen = { host: listen.host, port: first.port };
    if (tls && first.tlsPort !== undefined) this.tls = { host: tls.host, port: first.tlsPort };
    await Promise.all(Array.from({ length: this.deps.count - 1 }, () => this.fork()));
    return first;
  }

  /** The hostnames or force_https of an app changed. */
  hostsChanged(): void {
    this.broadcast({ t: 'hosts', hosts: this.deps.hosts() });
  }

  /** The certificates changed. */
  certsChanged(): void {
    this.broadcast({ t: 'certs', certs: this.deps.certs.pems?.() ?? [] });
  }

  /** A destroyed machine's metrics are dropped in every worker. */
  forget(machineId: string): void {
    this.broadcast({ t: 'forget', machineId });
  }

  async openAppPorts(app: string, ports: number[], tlsPorts: number[] = []): Promise<PortRefusal[]> {
    const answers = await this.askAll('openPorts', { q: 'openPorts', app, ports, tlsPorts });
    const byPort = new Map<number, PortRefusal>();
    for (const refusals of answers) for (const r of refusals) byPort.set(r.port, r);
    return [...byPort.values()];
  }

  setAppPorts(app: string, ports: number[], tlsPorts: number[] = []): void {
    this.ports.set(app, { ports, tlsPorts });
    this.broadcast({ t: 'ports', app, ports, tlsPorts });
  }

  portsFailed(app: string): Array<{ port: number; error: string }> {
    return this.failed.get(app) ?? [];
  }

  /** Each scope's window, summed over the workers. */
  async windows(scopes: WindowScope[], windowMs: number): Promise<WindowStats[]> {
    return (await this.countsOf(scopes, windowMs)).map(statsOf);
  }

  async countsOf(scopes: WindowScope[], windowMs: number): Promise<WindowCounts[]> {
    const sums = scopes.map(() => emptyCounts());
    for (const counts of await this.askAll('counts', { q: 'counts', scopes, windowMs })) counts.forEach((c, i) => sums[i] && addCounts(sums[i], c));
    return sums;
  }

  /** Prometheus text of every worker's series, added up. */
  async prometheus(): Promise<string> {
    const all = await this.askAll('prometheus', { q: 'prometheus' });
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.askAll('close', { q: 'close' }).catch(() => undefined);
    for (const r of this.running.values()) r.worker.process.kill('SIGTERM');
    this.running.clear();
  }

  private fork(): Promise<{ port: number; tlsPort?: number }> {
    const worker = cluster.fork({ HANGAR_WORKER_LOG: this.deps.logFile ?? '' });
    const r: Running = { worker, ready: false, inited: false, inflight: new Map(), places: new Map() };
    this.running.set(worker.id, r);
    const sendInit = () => {
      const init = {
        snapshot: this.deps.table.snapshot(),
        hosts: this.deps.hosts(),
        certs: this.deps.certs.pems?.() ?? [],
        relayToken: this.deps.relayToken,
        listen: this.listen!,
        tls: this.tls,
        ports: [...this.ports].map(([app, p]) => ({ app, ...p })),
      };
      worker.send({ t: 'init', init } satisfies ToWorker);
      r.inited = true;
    };
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'hello') sendInit();
        else if (m.t === 'ready') {
          r.ready = true;
          this.respawnMs = RESPAWN_MS;
          resolve(m);
        } else this.onMessage(r, m);
      });
      worker.once('exit', (code, signal) => {
        this.running.delete(worker.id);
        if (this.packing) this.tellShed(this.packing.remove(worker.id, Date.now()));
        this.dropInflight(r);
        this.dropPlaces(r);
        for (const [id, w] of this.waiting) {
          if (w.worker !== worker.id) continue;
          this.waiting.delete(id);
          w.reject(new Error(`proxy worker ${worker.process.pid} exited`));
        }
        if (!r.ready) return reject(new Error(`a proxy worker exited before it listened (${signal ?? code}); see the daemon log`));
        if (this.closing) return;
        this.deps.log.error({ worker: worker.process.pid, code, signal }, 'a proxy worker died; starting another');
        const wait = this.respawnMs;
        this.respawnMs = Math.min(5000, this.respawnMs * 2);
        setTimeout(() => void this.fork().catch((err) => this.deps.log.error({ err }, 'could not start a proxy worker')), wait).unref();
      });

    });
  }

  /** Sends each worker its changed instruction about its connections (packing.ts). */
  private tellShed(changes: Map<number, Shed>): void {
    for (const [id, shed] of changes) {
      const w = this.running.get(id)?.worker;
      if (w?.isConnected()) w.send({ t: 'shed', shed } satisfies ToWorker);
    }
  }

  private onMessage(r: Running, m: FromWorker): void {
    switch (m.t) {
      case 'elu':
        if (this.packing) this.tellShed(this.packing.report(r.worker.id, m.elu, Date.now()));
        break;
      case 'inflight':
        for (const e of m.entries) r.inflight.set(keyOf(e[1], e[2]), e);
        for (const e of m.entries) this.report(e[0], e[1], e[2]);
        break;
      case 'noCapacity':
        this.deps.onNoCapacity?.(m.app);
        break;
      case 'proxyError':
        this.deps.onProxyError?.(m.app, m.e);
        break;
      case 'portsFailed':
        this.failed.set(m.app, m.failed);
        break;
      case 'challenge':
        void this.deps.certs
          .challenge(m.token)
          .catch(() => undefined)
          .then((value) => r.worker.send({ t: 'answer', id: m.id, value } satisfies ToWorker));
        break;
      case 'permit': {
        const key = keyOf(m.machineId, m.instanceId);
        const taken = this.places(key);
        const ok = m.hard === undefined || taken < m.hard;
        if (ok) {
          r.places.set(key, [m.app, m.machineId, m.instanceId, (r.places.get(key)?.[3] ?? 0) + 1]);
          this.placesChanged(m.app, m.machineId, m.instanceId);
        }
        r.worker.send({ t: 'answer', id: m.id, value: ok } satisfies ToWorker);
        break;
      }
      case 'unpermit': {
        const key = keyOf(m.machineId, m.instanceId);
        const n = (r.places.get(key)?.[3] ?? 0) - 1;
        if (n > 0) r.places.set(key, [m.app, m.machineId, m.instanceId, n]);
        else r.places.delete(key);
        this.placesChanged(m.app, m.machineId, m.instanceId);
        break;
      }
      case 'answer': {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(m.error));
        else w?.resolve(m.value);
        break;
      }
    }
  }

  /** The table's figures of an instance: its in-flight requests over every worker, and the latest activity. */
  private report(app: string, machineId: string, instanceId: string): void {
    const key = keyOf(machineId, instanceId);
    let n = 0;
    let last = 0;
    for (const w of this.running.values()) {
      const e = w.inflight.get(key);
      if (!e) continue;
      n += e[3];
      last = Math.max(last, e[4]);
    }
    this.deps.table.reported(app, machineId, instanceId, n, last);
  }

  /** Places taken on an instance, over every worker. */
  private places(key: string): number {
    let n = 0;
    for (const w of this.running.values()) n += w.places.get(key)?.[3] ?? 0;
    return n;
  }

  /** Every worker learns an instance's new count (limits and balancing go by it). */
  private placesChanged(app: string, machineId: string, instanceId: string): void {
    this.broadcast({ t: 'load', app, machineId, instanceId, n: this.places(keyOf(machineId, instanceId)) });
  }

  /** A worker gone gives its places back. */
  private dropPlaces(r: Running): void {
    const held = [...r.places.values()];
    r.places.clear();
    for (const [app, machineId, instanceId] of held) this.placesChanged(app, machineId, instanceId);
  }

  private dropInflight(r: Running): void {
    const gone = [...r.inflight.values()];
    r.inflight.clear();
    for (const e of gone) this.report(e[0], e[1], e[2]);
  }

  private broadcast(m: ToWorker): void {
    for (const r of this.running.values()) if (r.inited && r.worker.isConnected()) r.worker.send(m);
  }

  /** Asks every ready worker; a worker that does not answer in time is left out. */
  private async askAll<K extends WorkerQuery['q']>(_k: K, query: WorkerQuery, timeoutMs = ASK_TIMEOUT_MS): Promise<Array<WorkerAnswers[K]>> {
    const ready = [...this.running.values()].filter((r) => r.ready && r.worker.isConnected());
    const got = await Promise.all(ready.map((r) => this.askOne(r, query, timeoutMs).catch((err) => void this.deps.log.warn({ err }, 'a proxy worker did not answer'))));
    return got.filter((g) => g !== undefined) as Array<WorkerAnswers[K]>;
  }

  private ask(query: WorkerQuery, timeoutMs: number): Promise<unknown[]> {
    return this.askAll(query.q, query, timeoutMs);
  }

  private askOne(r: Running, query: WorkerQuery, timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`proxy worker ${r.worker.process.pid} did not answer ${query.q} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        worker: r.worker.id,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      r.worker.send({ t: 'ask', id, query } satisfies ToWorker);
    });
  }
}
