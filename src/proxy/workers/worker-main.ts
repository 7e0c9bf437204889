/**
 * A proxy worker process (forked by the daemon through node:cluster, which shares the listening sockets
 * between the workers): serves requests from its own copy of the routing table, kept by the daemon's
 * changes, and reports back requests in flight, metrics and failures. It ends when the daemon goes.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import pino from 'pino';
import type { CertificateSource } from '../../core/certs.js';
import { appForHost } from '../host-names.js';
import { ProxyMetrics } from '../metrics.js';
import { ProxyServer } from '../proxy-server.js';
import { keyOf, RoutingTable } from '../routing-table.js';
import type { Permits } from '../permits.js';
import type { Shed } from './packing.js';
import type { CertPem, FromWorker, HostView, InflightEntry, ToWorker, WorkerInit, WorkerQuery } from './protocol.js';

/** How often in-flight counts that changed are reported to the daemon. */
const REPORT_MS = 50;
/** How often this worker tells the daemon how busy its event loop was (packing.ts decides from it). */
const ELU_MS = 250;
/** Told to shed `some`: at most one connection is closed per this many ms. */
const SHED_SOME_MS = 50;

const send = (m: FromWorker) => {
  if (process.connected) process.send!(m);
};
const log = process.env.HANGAR_WORKER_LOG ? pino({ level: process.env.HANGAR_LOG_LEVEL ?? 'info', base: { worker: process.pid } }, pino.destination({ dest: process.env.HANGAR_WORKER_LOG, sync: false })) : undefined;

const table = new RoutingTable();
const metrics = new ProxyMetrics();
const hostnames = new Map<string, string>();
const forceHttps = new Set<string>();
let shedding: Shed = 'none';
let shedAt = 0;

/** Whether the request being answered closes its connection (what the daemon said; see packing.ts). */
function shed(): boolean {
  if (shedding === 'all') return true;
  if (shedding === 'none') return false;
  const now = performance.now();
  if (now - shedAt < SHED_SOME_MS) return false;
  shedAt = now;
  return true;
}

/** Questions this worker asks the daemon, by id; one that is not answered in time gets `fallback`. */
const asked = new Map<number, (v: unknown) => void>();
let nextAsk = 1;
function askDaemon<T>(message: (id: number) => FromWorker, fallback: T, timeoutMs = 5000): Promise<T> {
  const id = nextAsk++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => answered(id, fallback), timeoutMs);
    asked.set(id, (v) => {
      clearTimeout(timer);
      resolve(v as T);
    });
    send(message(id));
  });
}
function answered(id: number, value: unknown): void {
  const done = asked.get(id);
  asked.delete(id);
  done?.(value);
}

/** Places on limited machines, granted by the daemon, which counts them over every worker. */
const permits: Permits = {
  async acquire(b) {
    const ref = { app: b.app, machineId: b.machineId, instanceId: b.instanceId };
    // The daemon not answering in time counts as full: a limit is not overrun on a guess.
    const ok = await askDaemon((id) => ({ t: 'permit', id, ...ref, hard: b.hardLimit }), false);
    if (!ok) return undefined;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      send({ t: 'unpermit', ...ref });
    };
  },
};

/** Certificates pushed by the daemon; challenges are asked of it (it may be another node's). */
class WorkerCerts implements CertificateSource {
  private contexts = new Map<string, { ctx?: SecureContext; app: string }>();

  set(certs: CertPem[]): void {
    const next = new Map<string, { ctx?: SecureContext; app: string }>();
    for (const c of certs) {
      try {
        next.set(c.hostname, { ctx: c.cert && c.key ? createSecureContext({ cert: c.cert, key: c.key }) : undefined, app: c.app });
      } catch (err) {
        log?.error({ err, hostname: c.hostname }, 'could not load a certificate');
      }
    }
    this.contexts = next;
  }

  contextFor(servername: string): SecureContext | undefined {
    return this.contexts.get(servername)?.ctx;
  }

  appFor(hostname: string): string | undefined {
    return this.contexts.get(hostname)?.app;
  }

  challenge(token: string): Promise<string | undefined> {
    return askDaemon<string | undefined>((id) => ({ t: 'challenge', id, token }), undefined);
  }
}

const certs = new WorkerCerts();
let proxy: ProxyServer | undefined;

function setHosts(h: HostView): void {
  hostnames.clear();
  for (const [name, app] of h.hostnames) hostnames.set(name, app);
  forceHttps.clear();
  for (const app of h.forceHttps) forceHttps.add(app);
}

async function setPorts(app: string, ports: number[], tlsPorts: number[]): Promise<void> {
  await proxy!.setAppPorts(app, ports, tlsPorts);
  send({ t: 'portsFailed', app, failed: proxy!.portsFailed(app) });
}

async function init(i: WorkerInit): Promise<void> {
  for (const op of i.snapshot.ops) table.apply(op);
  setHosts(i.hosts);
  certs.set(i.certs);
  proxy = new ProxyServer(log);
  proxy.attach({
    table,
    metrics,
    appForHost: (h) => appForHost(hostnames, h),
    certs,
    forceHttps: (app) => forceHttps.has(app),
    relay: i.relayToken ? { token: i.relayToken } : undefined,
    onNoCapacity: (app) => send({ t: 'noCapacity', app }),
    onProxyError: (app, e) => send({ t: 'proxyError', app, e }),
    permits,
    shed,
  });
  const main = await proxy.listen(i.listen.host, i.listen.port);
  const tls = i.tls ? await proxy.listenTls(i.tls.host, i.tls.port) : undefined;
  for (const p of i.ports) void setPorts(p.app, p.ports, p.tlsPorts);
  send({ t: 'ready', port: main.port, tlsPort: tls?.port });
  startReports();
  let elu = performance.eventLoopUtilization();
  setInterval(() => {
    const now = performance.eventLoopUtilization();
    send({ t: 'elu', elu: performance.eventLoopUtilization(now, elu).utilization });
    elu = now;
  }, ELU_MS).unref();
}

/** Sends the in-flight count and last activity of every instance whose figures moved since last time. */
function startReports(): void {
  const last = new Map<string, string>();
  const timer = setInterval(() => {
    const entries: InflightEntry[] = [];
    const seen = new Set<string>();
    for (const b of table.allBackends()) {
      const key = keyOf(b.machineId, b.instanceId);
      seen.add(key);
      const figure = `${b.inflight}/${b.lastActivity}`;
      if (last.get(key) === figure) continue;
      last.set(key, figure);
      entries.push([b.app, b.machineId, b.instanceId, b.inflight, b.lastActivity]);
    }
    for (const key of last.keys()) if (!seen.has(key)) last.delete(key);
    if (entries.length) send({ t: 'inflight', entries });
  }, REPORT_MS);
  timer.unref();
}

async function answer(q: WorkerQuery): Promise<unknown> {
  switch (q.q) {
    case 'openPorts':
      return proxy!.openAppPorts(q.app, q.ports, q.tlsPorts);
    case 'counts':
      return q.scopes.map((s) => metrics.counts(s, q.windowMs));
    case 'prometheus':
      return metrics.metricsJson();
    case 'drain':
      await table.drain(q.machineId, q.instanceId, q.timeoutMs);
      return null;
    case 'close':
      await proxy?.close();
      return null;
  }
}

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'init':
      void init(m.init).catch((err) => {
        log?.error({ err }, 'proxy worker could not start');
        process.exitCode = 1;
        process.disconnect();
      });
      break;
    case 'op':
      table.apply(m.op);
      break;
    case 'hosts':
      setHosts(m.hosts);
      break;
    case 'certs':
      certs.set(m.certs);
      break;
    case 'ports':
      void setPorts(m.app, m.ports, m.tlsPorts);
      break;
    case 'forget':
      metrics.forget(m.machineId);
      break;
    case 'answer':
      answered(m.id, m.value);
      break;
    case 'load':
      table.setShared(m.app, m.machineId, m.instanceId, m.n);
      break;
    case 'shed':
      shedding = m.shed;
      break;
    case 'ask':
      answer(m.query).then(
        (value) => send({ t: 'answer', id: m.id, value }),
        (err: Error) => send({ t: 'answer', id: m.id, error: err.message }),
      );
      break;
  }
});
// The daemon is gone (stopped, or killed): so is its proxy.
process.on('disconnect', () => process.exit());
// Messages that arrive before a listener are lost: the daemon sends the init once it hears this.
send({ t: 'hello' });
