import { join } from 'node:path';
import { DashboardAssets } from '../dashboard/assets.js';
import { DashboardAuth } from '../dashboard/auth.js';
import pino, { type Logger } from 'pino';
import { buildApi, type Api } from '../api/server.js';
import { parseDuration } from '../core/duration.js';
import { ImageCatalog } from '../images/catalog.js';
import { ImageStore } from '../images/store.js';
import { ImageBuilder } from '../images/builder.js';
import { DockerImageBuilder } from '../images/docker-builder.js';
import { LogCollector } from '../logs/collector.js';
import { PlatformLog } from '../logs/platform.js';
import { AppService } from '../machines/app-service.js';
import { MachineBus } from '../machines/bus.js';
import { Autoscaler } from '../machines/autoscale.js';
import { LeaseService } from '../machines/leases.js';
import { DEFAULT_TIMING, MachineLifecycle, type LifecycleTiming } from '../machines/lifecycle.js';
import { MachineService } from '../machines/machine-service.js';
import { PortAllocator } from '../machines/ports.js';
import { reconcile } from '../machines/reconcile.js';
import type { DeployService } from '../deploy/deploy-service.js';
import { DeployNotifier } from '../deploy/notify.js';
import { proxyFront, type ProxyFront } from './proxy-front.js';
import type { RuntimeDriver } from '../runtime/driver.js';
import { ProcessDriver } from '../runtime/process/process-driver.js';
import type { Host, RuntimeKind } from '../core/types.js';
import type { CertService } from '../certs/index.js';
import type { Control } from '../deploy/strategy.js';
import { ClusterPeers } from '../cluster/peers.js';
import { openState, type State } from '../state/index.js';
import { KEY_FILE, SecretsService, SecretVault } from '../secrets/index.js';
import { Routing } from './routing.js';
import { DEFAULT_PROXY_TLS_PORT } from './defaults.js';
import { DEFAULT_HOST_TIMING, HostRegistry, type HostTiming, type NodeIdentity } from '../cluster/host-registry.js';
import { nodeIdentity } from './node-identity.js';
import { portAccepts } from '../health/readiness.js';
import { clusterSecret, sharedToken } from '../cluster/secret.js';
import { dockerRuntime, waitForEngine } from './docker-runtime.js';
import { deployService } from './deploys.js';
import { envDelays, envHostTiming, envTiming } from './env.js';
import { ClusterSync } from '../cluster/sync.js';
import { ClusterMachines, type RemoteOp } from '../cluster/machines.js';
import { NodeClient } from '../cluster/node-client.js';
import { clusterImageSource } from '../cluster/images.js';
import { HostMigration } from '../cluster/migrate.js';
import { PgFeed } from '../state/feed.js';
import { acquireHomeLock, ensureHome, HOME_FILES, removeDaemonInfo, writeDaemonInfo } from './home.js';
import { bind, formatUrl, listenError, probe, type ListenAddress } from './listen.js';
import { certStore } from './cert-store.js';
import { historyIntervalFromEnv, MetricsHistory, storedFleet } from '../metrics/index.js';
import type { PackingOptions } from '../proxy/workers/packing.js';

export interface DaemonOptions {
  /** The ACME CA certificates are ordered from (default Let's Encrypt), a private CA's root to trust, the account's contact. */
  acme?: { directoryUrl?: string; caFile?: string; email?: string };
  /** Proxy worker processes (0: the proxy runs in the daemon's own process). */
  proxyWorkers?: number;
  /** How the workers pack their connections at low traffic (default PACKING; false: never). */
  proxyPacking?: PackingOptions | false;
  home: string;
  /** A PostgreSQL URL: the state is shared with the cluster's other nodes. Absent: SQLite in `home`. */
  database?: string;
  /** This node's host: its name (default: the machine's hostname), region and advertised address. */
  host?: Partial<Pick<NodeIdentity, 'name' | 'region' | 'address'>>;
  hostTiming?: Partial<HostTiming>;
  /** A file holding the secret nodes authenticate each other with (default: one kept in the database). */
  clusterSecretFile?: string;
  listen: ListenAddress;
  proxyListen: ListenAddress;
  /** The proxy's TLS listener; absent: the default port, or a free one when it is taken. */
  proxyTlsListen?: ListenAddress | 'off';
  /** When a default port is taken, fall back to an ephemeral one (used by auto-started daemons). */
  portFallback?: boolean;
  version: string;
  timing?: Partial<LifecycleTiming>;
  logger?: Logger;
}

export { DEFAULT_API_PORT, DEFAULT_PROXY_PORT } from './defaults.js';

/**
 * The only place the concrete parts are built and connected. Start order: lock HANGAR_HOME, open state,
 * bind both listeners (so a bad address fails before anything is touched), recover machines, then
 * serve. Stop leaves machines running; the next daemon adopts them.
 */
export class Daemon {
  private constructor(
    readonly apiAddress: ListenAddress,
    readonly proxyAddress: ListenAddress,
    private readonly parts: { certs: CertService; proxyTls?: ListenAddress; stopAdopt: () => void; warnings: string[]; sync?: ClusterSync; hosts: HostRegistry; api: Api; proxy: ProxyFront; state: State; lifecycle: MachineLifecycle; logs: LogCollector; drivers: RuntimeDriver[]; unlock: () => void; log: Logger; home: string; unsub: () => void; routing: Routing; platform: PlatformLog; deploys: DeployService; autoscaler: Autoscaler; recycler: NodeJS.Timeout; stopDockerRetry: () => void; history: MetricsHistory },
  ) {}

  get apiUrl(): string {
    return formatUrl(this.apiAddress);
  }

  /** Problems found at start that do not stop the node (an advertised address that does not answer). */
  get warnings(): string[] {
    return this.parts.warnings;
  }

  /** This node's host as it registered. */
  get host(): Host {
    return this.parts.hosts.host;
  }

  get proxyUrl(): string {
    return formatUrl(this.proxyAddress);
  }

  /** The proxy's HTTPS address, unless TLS is off. */
  get proxyTlsUrl(): string | undefined {
    const a = this.parts.proxyTls;
    return a && formatUrl(a).replace(/^http:/, 'https:');
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    ensureHome(opts.home);
    const unlock = acquireHomeLock(opts.home);
    const cleanup: Array<() => unknown> = [unlock];
    try {
      return await Daemon.build(opts, unlock, cleanup);
    } catch (err) {
      for (const c of cleanup.reverse()) await c();
      throw err;
    }
  }

  private static async build(opts: DaemonOptions, unlock: () => void, cleanup: Array<() => unknown>): Promise<Daemon> {
    const log = opts.logger ?? pino({ level: process.env.HANGAR_LOG_LEVEL ?? 'info' }, pino.destination({ dest: join(opts.home, HOME_FILES.log), mkdir: true, sync: false }));
    const state = await openState(opts.database ? { kind: 'postgres', url: opts.database } : join(opts.home, HOME_FILES.state));
    cleanup.push(() => state.close());
    const token = await sharedToken(state, opts.home);
    const clustered = state.dialect === 'postgres';
    const secret = clustered ? await clusterSecret(state, opts.clusterSecretFile) : undefined;
    let sync: ClusterSync | undefined;
    const hosts = new HostRegistry({ state, home: opts.home, log, timing: { ...DEFAULT_HOST_TIMING, ...envHostTiming(), ...opts.hostTiming } });
    cleanup.push(() => hosts.stop());
    const localHost = {
      get hostId() {
        return hosts.host.id;
      },
      get region() {
        return hosts.host.region;
      },
    };
    const vault = await SecretVault.open({
      state,
      keyFile: join(opts.home, KEY_FILE),
      log,
      clusterKey: clustered ? { recorded: () => state.hosts.setting('secrets_key_id'), record: (id) => state.hosts.settingOr('secrets_key_id', id) } : undefined,
    });
    const certs = certStore({ state, vault, log, acme: opts.acme, hosts, database: clustered ? opts.database : undefined, onEvent: (app, message, level) => platform.certificate(app, message, level), onCacheChange: () => proxy?.certsChanged() });
    const store = new ImageStore(join(opts.home, 'images'));
    await store.cleanTemp();
    const processDriver = new ProcessDriver({ root: join(opts.home, 'machines') });
    const drivers = new Map<RuntimeKind, RuntimeDriver>([['process', processDriver]]);
    const docker = dockerRuntime(opts.home, log);
    if (docker.driver) drivers.set('docker', docker.driver);
    const bus = new MachineBus();
    const ports = new PortAllocator();
    const images = new ImageCatalog(state, store, docker.images, docker.problem);
    const timing = { ...DEFAULT_TIMING, ...envTiming(), ...opts.timing };
    const routing = new Routing({ bus, log, saveChecks: (id, c) => state.machines.saveChecks(id, c).then(() => sync?.checksChanged(id)), onPorts: (app, ports, tls) => proxy.setAppPorts(app, ports, tls), onHosts: () => proxy?.hostsChanged(), onHealthy: (id, instance, routable) => sync?.healthChanged(id, instance, routable) });
    const logs = new LogCollector({ dir: join(opts.home, 'logs') });
    const platform = new PlatformLog({ store: (l) => logs.append(l), onError: (err) => log.warn({ err }, 'could not store a platform log line') });
    const lifecycle = new MachineLifecycle({ state, drivers, images, bus, ports, log, timing, drainer: { drain: (ref, ms) => routing.table.drain(ref.machineId, ref.instanceId, ms) }, secrets: vault, onSignal: (m, s) => platform.signal(m, s) });
    cleanup.push(() => lifecycle.dispose());
    const leases = new LeaseService(state);
    const local = new MachineService({ state, lifecycle, images, leases, bus, host: localHost });
    const node = secret ? new NodeClient({ apiToken: token, clusterToken: secret }) : undefined;
    const machines = new ClusterMachines({
      local,
      state,
      hosts,
      images,
      node,
      readiness: {
        waitReady: (m, ref, port, exited, o) => routing.waitReady(m, ref, port, exited, o),
        waitHealthy: (m, o) => routing.waitHealthy(m, lifecycle.exitOf(m), o),
      },
    });
    if (node) images.fetchFrom(clusterImageSource(hosts, node), docker.images ? clusterImageSource(hosts, node, 'docker') : undefined);
    const migration = new HostMigration({ hosts, machines, log, wait: { timeoutMs: 5 * 60_000, minUpMs: 1000 } });
    const apps = new AppService({
      state,
      machines,
      onRouting: (app, r) => {
        routing.setAppRouting(app, r);
        sync?.appChanged(app);
      },
      ports: {
        reserved: () => new Map([[addresses.api.port, 'the hangar API'], [addresses.proxy.port, 'the hangar proxy'], ...(addresses.proxyTls ? [[addresses.proxyTls.port, "the hangar proxy's TLS listener"] as [number, string]] : [])]),
        open: (app, ports, tls) => proxy.openAppPorts(app, ports, tls),
      },
    });
    const autoscaler = new Autoscaler({
      machines,
      traffic: { idleFor: (app, id) => routing.table.idleFor(app, id), idleTimeoutMs: (app) => routing.table.idleTimeoutMs(app) },
      apps: async () => (await state.apps.list()).map((a) => a.name),
      log,
      intervalMs: parseDuration(process.env.HANGAR_AUTOSTOP_INTERVAL) ?? 5000,
    });
    const proxy: ProxyFront = proxyFront({
      workers: opts.proxyWorkers ?? 0,
      packing: opts.proxyPacking,
      table: routing.table,
      log,
      logFile: opts.logger ? undefined : join(opts.home, HOME_FILES.log),
      appForHost: (h) => routing.appForHost(h),
      hosts: () => routing.hostView(),
      forceHttps: (app) => routing.forcesHttps(app),
      certs,
      relayToken: secret,
      onNoCapacity: (app) => autoscaler.wake(app),
      onProxyError: (app, e) => platform.proxyError(app, e),
    });
    const peers = node ? new ClusterPeers({ hosts, node, metrics: proxy, log }) : undefined;
    const windows = peers ?? proxy;
    const history = new MetricsHistory({ windows, fleet: storedFleet(state), log, intervalMs: historyIntervalFromEnv(process.env.HANGAR_METRICS_INTERVAL) });
    cleanup.push(() => history.stop());
    cleanup.push(() => autoscaler.stop());
    const addresses: { api: ListenAddress; proxy: ListenAddress; proxyTls?: ListenAddress } = { api: opts.listen, proxy: opts.proxyListen };
    let stopDockerRetry = () => {};
    let stopAdopt = () => {};
    const deploys = deployService({
      state,
      machines,
      images,
      leases,
      vault,
      routing,
      lifecycle,
      platform,
      engine: docker.engine,
      logs,
      log,
      apps,
      windows,
      hosts,
      node,
      clustered,
      proxyAddress: () => addresses.proxy,
      sync: () => sync,
    });
    cleanup.push(() => deploys.stop());
    const notifier = new DeployNotifier({ log, retryDelaysMs: envDelays() });
    deploys.onAnyEvent((d, e) => notifier.handle(d, e));
    deploys.onAnyEvent((d, e) => platform.deploy(d, e));
    let ready!: () => void;
    const readyP = new Promise<void>((r) => (ready = r));
    const api = await buildApi({
      token,
      apps,
      machines,
      leases,
      images,
      logs,
      log,
      // This host's machines from its own monitor; another host's as that host last stored them.
      checks: (id) => sync?.checksOf(id) ?? routing.checksOf(id),
      inflight: (app, id) => routing.table.inflight(app, id),
      metrics: proxy,
      windows,
      history,
      certs,
      deploys,
      secrets: new SecretsService({ vault, deploys, log }),
      dashboard: { auth: new DashboardAuth(state.dashboard, token), assets: new DashboardAssets() },
      builds: {
        builder: new ImageBuilder({ store, tmpRoot: join(opts.home, 'images', 'tmp', 'builds') }),
        docker: docker.engine && new DockerImageBuilder({ engine: docker.engine, tmpRoot: join(opts.home, 'images', 'tmp', 'builds') }),
        dockerProblem: () => docker.problem,
        images,
      },
      version: opts.version,
      portsFailed: (app) => proxy.portsFailed(app),
      get proxy() {
        return addresses.proxy;
      },
      apiUrl: () => formatUrl(addresses.api),
      hosts: {
        list: () => hosts.list(),
        setDraining: (ref, draining) => hosts.setDraining(ref, draining),
        remove: (ref, force) => hosts.remove(ref, force),
        machineHost: (id) => hosts.machineHost(id),
        migrate: (ref) => migration.migrate(ref),
      },
      get hostName() {
        return clustered ? hosts.host.name : undefined;
      },
      logPeers: peers,
      internal: secret
        ? {
            clusterToken: secret,
            machineOp: (op) => machines.runLocal(op as RemoteOp),
            image: (digest) => store.exportStream(digest),
            dockerImage: async (name) => docker.images?.exportTar(name),
            deployControl: (b) => deploys.control(b.id, b.control as Control),
            windowCounts: (scopes, ms) => proxy.countsOf(scopes, ms),
          }
        : undefined,
    });
    api.addHook('onRequest', async () => readyP);
    cleanup.push(() => api.close());
    addresses.api = await bind(opts.listen, opts.portFallback, '--listen', (a) => api.listen({ host: a.host, port: a.port }).then(() => ({ host: a.host, port: (api.server.address() as { port: number }).port })));
    cleanup.push(() => proxy.close());
    {
      const main = await bind(opts.proxyListen, opts.portFallback, '--proxy-listen', probe);
      const tlsAt = opts.proxyTlsListen === 'off' ? undefined : (opts.proxyTlsListen ?? { host: opts.proxyListen.host, port: DEFAULT_PROXY_TLS_PORT });
      const tls = tlsAt && (await bind(tlsAt, opts.proxyTlsListen === undefined || opts.portFallback, '--proxy-tls-listen', probe));
      const bound = await proxy.listen(main, tls).catch((err) => {
        throw listenError(err, main, '--proxy-listen');
      });
      addresses.proxy = bound.main;
      addresses.proxyTls = bound.tls;
    }
    const self = await hosts.register(nodeIdentity({ opts: opts.host, listen: addresses.api, proxy: addresses.proxy, runtimes: [...drivers.keys()], version: opts.version, clustered: state.dialect === 'postgres' }));
    cleanup.push(() => certs.stop());
    await certs.start();
    // Machines stored before hosts existed are this single node's.
    if (state.dialect === 'sqlite') await state.machines.claimUnowned(self.id);
    routing.table.home = self.region;
    hosts.start();
    // Other nodes reach this one at the advertised address: a wrong --advertise is said at start.
    const warnings: string[] = [];
    if (clustered && !(await portAccepts(self.address, self.apiPort, 2000))) {
      warnings.push(`other nodes cannot reach this node at ${self.address}:${self.apiPort} (--advertise): check that --listen covers that address`);
      log.warn({ address: self.address, port: self.apiPort }, 'advertised address does not answer');
    }

    const track = (m: { id: string; appName: string; region: string; runtime: RuntimeKind; state: string }) => {
      if (m.state === 'destroyed') {
        logs.untrack(m.id);
        proxy.forget(m.id);
      }
      else logs.track({ machineId: m.id, app: m.appName, region: m.region, ...drivers.get(m.runtime)!.logFiles(m.id) });
    };
    const unsubs = [bus.onMachine(track), bus.onMachine((m) => platform.machine(m)), bus.onEvent((e, m) => platform.machineEvent(e, m)), routing.onHealth((e) => platform.health(e))];
    const unsub = () => unsubs.forEach((u) => u());
    const initial = await state.machines.list({ hostId: self.id });
    for (const m of initial) {
      track(m);
      platform.machine(m);
    }
    logs.start();
    routing.start(initial, await state.apps.list(), await state.machines.checks());
    cleanup.push(() => routing.stop());
    const down = await reconcile({ state, lifecycle, ports, log, hostId: self.id });
    if (down.includes('docker') && docker.engine) {
      // Machines on an engine that was down at start are adopted once it answers.
      const engine = docker.engine;
      const retry = new AbortController();
      cleanup.push(() => retry.abort());
      void waitForEngine(engine, Number.MAX_SAFE_INTEGER, retry.signal).then(async (back) => {
        if (!back) return;
        log.info({ engine: docker.engine?.endpoint }, 'Docker Engine answers; recovering its machines');
        await reconcile({ state, lifecycle, ports, log, hostId: self.id }, ['docker']).catch((err) => log.error({ err }, 'recovering Docker machines failed'));
      });
      stopDockerRetry = () => retry.abort();
    }
    if (clustered) {
      sync = new ClusterSync({ state, feed: new PgFeed({ db: state.db, url: opts.database!, hostId: () => self.id, onError: (err) => log.warn({ err }, 'change feed') }), routing, hosts, bus, log });
      cleanup.push(() => sync?.stop());
      await sync.start();
    }
    await deploys.resumeAll();
    if (clustered) {
      // A deploy whose node died is taken over by whichever node claims it first.
      const adopt = setInterval(() => void deploys.adoptOrphans().catch((err) => log.warn({ err }, 'taking over orphaned deploys failed')), parseDuration(process.env.HANGAR_DEPLOY_ADOPT_INTERVAL) ?? 2000);
      adopt.unref();
      cleanup.push(() => clearInterval(adopt));
      stopAdopt = () => clearInterval(adopt);
    }
    autoscaler.start();
    history.start();
    const recycleIdle = parseDuration(process.env.HANGAR_RECYCLE_IDLE) ?? 10_000;
    const recycler = setInterval(() => void deploys.recycleStale(recycleIdle).catch((err) => log.warn({ err }, 'recycle pass failed')), parseDuration(process.env.HANGAR_RECYCLE_INTERVAL) ?? 30_000);
    cleanup.push(() => clearInterval(recycler));
    ready();
    writeDaemonInfo(opts.home, { pid: process.pid, api: formatUrl(addresses.api), proxy: formatUrl(addresses.proxy), proxy_tls: addresses.proxyTls && formatUrl(addresses.proxyTls).replace(/^http:/, 'https:'), version: opts.version, started_at: new Date().toISOString() });
    log.info({ api: formatUrl(addresses.api), proxy: formatUrl(addresses.proxy), home: opts.home, host: self.name, region: self.region, state: state.dialect }, 'daemon started');
    return new Daemon(addresses.api, addresses.proxy, { certs, proxyTls: addresses.proxyTls, stopAdopt, warnings, sync, hosts, api, proxy, state, lifecycle, logs, drivers: [...drivers.values()], unlock, log, home: opts.home, unsub, routing, platform, deploys, autoscaler, recycler, stopDockerRetry, history });
  }

  /** Graceful stop: stop serving, stop watching machines (they keep running), close state, release the lock. */
  async stop(): Promise<void> {
    const p = this.parts;
    removeDaemonInfo(p.home);
    p.stopAdopt();
    await p.deploys.stop();
    p.autoscaler.stop();
    p.history.stop();
    clearInterval(p.recycler);
    p.stopDockerRetry();
    p.hosts.stop();
    await p.sync?.stop();
    await p.api.close();
    await p.proxy.close();
    p.unsub();
    p.routing.stop();
    p.lifecycle.dispose();
    p.platform.stop();
    await p.logs.stop();
    for (const d of p.drivers) await d.dispose();
    await p.certs.stop();
    await p.state.close();
    p.log.info('daemon stopped; machines left running');
    p.log.flush?.();
    p.unlock();
  }
}
