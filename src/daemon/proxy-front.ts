/**
 * The daemon's proxy, in one of two forms with one face: in this process (`--proxy-workers 0`), or in
 * worker processes that keep their own copy of the routing table (the default: one per core), so the
 * API, checks and deploys never share the proxy's event loop.
 */
import type { Logger } from 'pino';
import type { CertificateSource } from '../core/certs.js';
import type { WindowCounts, WindowScope, WindowStats } from '../core/window-stats.js';
import type { PortRefusal } from '../proxy/listeners.js';
import { ProxyMetrics } from '../proxy/metrics.js';
import { ProxyServer, type ProxyError } from '../proxy/proxy-server.js';
import type { RoutingTable } from '../proxy/routing-table.js';
import type { CertPem, HostView } from '../proxy/workers/protocol.js';
import { ProxyWorkers } from '../proxy/workers/pool.js';
import type { PackingOptions } from '../proxy/workers/packing.js';
import type { ListenAddress } from './listen.js';

/** What the rest of the daemon uses of its proxy. */
export interface ProxyFront {
  /** Binds the plain listener (and the TLS one): the addresses bound, ephemeral ports resolved. */
  listen(main: ListenAddress, tls?: ListenAddress): Promise<{ main: ListenAddress; tls?: ListenAddress }>;
  openAppPorts(app: string, ports: number[], tlsPorts: number[]): Promise<PortRefusal[]>;
  setAppPorts(app: string, ports: number[], tlsPorts: number[]): void;
  portsFailed(app: string): Array<{ port: number; error: string }>;
  /** Hostnames or force_https changed. */
  hostsChanged(): void;
  /** Certificates changed. */
  certsChanged(): void;
  /** A destroyed machine's metrics go. */
  forget(machineId: string): void;
  windows(scopes: WindowScope[], windowMs: number): Promise<WindowStats[]>;
  countsOf(scopes: WindowScope[], windowMs: number): Promise<WindowCounts[]>;
  readonly contentType: string;
  prometheus(): Promise<string>;
  close(): Promise<void>;
}

export interface ProxyFrontDeps {
  /** Worker processes; 0 = serve in the daemon's own process. */
  workers: number;
  /** How the workers pack their connections at low traffic (packing.ts). */
  packing?: PackingOptions | false;
  table: RoutingTable;
  log: Logger;
  logFile?: string;
  appForHost: (host: string) => string | undefined;
  hosts: () => HostView;
  forceHttps: (app: string) => boolean;
  certs: CertificateSource & { pems?: () => CertPem[] };
  relayToken?: string;
  onNoCapacity: (app: string) => void;
  onProxyError: (app: string, e: ProxyError) => void;
}

export function proxyFront(deps: ProxyFrontDeps): ProxyFront {
  return deps.workers > 0 ? workersFront(deps) : inProcessFront(deps);
}

function inProcessFront(deps: ProxyFrontDeps): ProxyFront {
  const metrics = new ProxyMetrics();
  const proxy = new ProxyServer(deps.log);
  proxy.attach({ table: deps.table, appForHost: deps.appForHost, metrics, onNoCapacity: deps.onNoCapacity, onProxyError: deps.onProxyError, relay: deps.relayToken ? { token: deps.relayToken } : undefined, certs: deps.certs, forceHttps: deps.forceHttps });
  return {
    async listen(main, tls) {
      const m = await proxy.listen(main.host, main.port);
      const t = tls && (await proxy.listenTls(tls.host, tls.port));
      return { main: m, tls: t };
    },
    openAppPorts: (app, ports, tlsPorts) => proxy.openAppPorts(app, ports, tlsPorts),
    setAppPorts: (app, ports, tlsPorts) => void proxy.setAppPorts(app, ports, tlsPorts),
    portsFailed: (app) => proxy.portsFailed(app),
    hostsChanged: () => undefined,
    certsChanged: () => undefined,
    forget: (id) => metrics.forget(id),
    windows: (scopes, ms) => metrics.windows(scopes, ms),
    countsOf: (scopes, ms) => metrics.countsOf(scopes, ms),
    contentType: metrics.contentType,
    prometheus: () => metrics.prometheus(),
    close: () => proxy.close(),
  };
}

function workersFront(deps: ProxyFrontDeps): ProxyFront {
  const pool = new ProxyWorkers({ count: deps.workers, table: deps.table, log: deps.log, logFile: deps.logFile, relayToken: deps.relayToken, hosts: deps.hosts, certs: deps.certs, onNoCapacity: deps.onNoCapacity, onProxyError: deps.onProxyError, packing: deps.packing });
  return {
    async listen(main, tls) {
      // The addresses come resolved (no port 0): every worker listens on the same ports.
      const got = await pool.start(main, tls);
      return { main: { host: main.host, port: got.port }, tls: tls && got.tlsPort !== undefined ? { host: tls.host, port: got.tlsPort } : undefined };
    },
    openAppPorts: (app, ports, tlsPorts) => pool.openAppPorts(app, ports, tlsPorts),
    setAppPorts: (app, ports, tlsPorts) => pool.setAppPorts(app, ports, tlsPorts),
    portsFailed: (app) => pool.portsFailed(app),
    hostsChanged: () => pool.hostsChanged(),
    certsChanged: () => pool.certsChanged(),
    forget: (id) => pool.forget(id),
    windows: (scopes, ms) => pool.windows(scopes, ms),
    countsOf: (scopes, ms) => pool.countsOf(scopes, ms),
    contentType: pool.contentType,
    prometheus: () => pool.prometheus(),
    close: () => pool.close(),
  };
}
