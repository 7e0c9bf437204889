import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { App, AppRouting, CheckStatus, Machine } from '../core/types.js';
import { checkSpecsFor, HealthMonitor, probeUntilOpen, ReadinessWaiter, type CheckSpec, type HealthChange, type InstanceExit, type WaitOptions } from '../health/index.js';
import type { MachineBus } from '../machines/bus.js';
import { RoutingTable } from '../proxy/routing-table.js';
import { appForHost } from '../proxy/host-names.js';
import type { HostView } from '../proxy/workers/protocol.js';

/** Default hold window: how long a request waits for a routable machine before a 503. */
export const DEFAULT_HOLD_MS = 5000;

/**
 * Connects machine events to health checks and the proxy's routing table: a started machine of a
 * process group that a service serves is routable once its routing checks pass (or, without any, once
 * its port accepts connections); a machine leaving `started` or cordoned leaves rotation immediately.
 * Machines of groups no service serves are checked but never routed to. Check results are kept for the
 * API's machine JSON.
 */
export interface RoutingDeps {
  bus: MachineBus;
  log: Logger;
  /** Persists a machine's latest check results. */
  saveChecks: (machineId: string, checks: CheckStatus[]) => Promise<void>;
  /** The proxy's dedicated listeners per app changed. */
  onPorts?: (app: string, ports: number[], tlsPorts: number[]) => void;
  /** Hostnames or force_https of an app changed. */
  onHosts?: () => void;
  /** Whether one of this host's instances takes traffic changed (the cluster tells the other nodes). */
  onHealthy?: (machineId: string, instanceId: string, routable: boolean) => void;
}

/** Where another host's machines are reached: that host's node's proxy. */
export interface RemoteHost {
  id: string;
  address: string;
  proxyPort: number;
}

export class Routing {
  readonly table = new RoutingTable(DEFAULT_HOLD_MS);
  private readonly monitor: HealthMonitor;
  private readonly checks = new Map<string, CheckStatus[]>();
  private readonly watching = new Map<string, string>();
  private readonly hostnames = new Map<string, string>();
  private readonly forceHttps = new Set<string>();
  private readonly health = new EventEmitter();
  /** Instances a deploy is bringing up next to a machine's current one. */
  private readonly candidates = new Set<string>();
  /** Machines without routing checks whose port is being tried before they take traffic. */
  private readonly probes = new Map<string, () => void>();
  private readonly readiness: ReadinessWaiter;
  /** Other hosts' machines in the table: machine id → its host and current instance. */
  private readonly remote = new Map<string, { hostId: string; instanceId: string; app: string }>();
  private unsub?: () => void;

  constructor(private readonly deps: RoutingDeps) {
    this.health.setMaxListeners(0);
    this.monitor = new HealthMonitor({
      onChange: (e) => {
        this.checks.set(e.machineId, e.checks.map(({ gatesRouting: _g, ...c }) => c));
        this.setHealthy(e.machineId, e.instanceId, e.routable);
        this.deps.saveChecks(e.machineId, this.checks.get(e.machineId)!).catch((err) => this.deps.log.warn({ err, machine: e.machineId }, 'could not store check results'));
        this.health.emit('change', e);
      },
      onError: (err) => this.deps.log.error({ err }, 'health consumer failed'),
    });
    this.readiness = new ReadinessWaiter({
      monitor: this.monitor,
      onHealth: (fn) => this.onHealth(fn),
      markCandidate: (machineId, instanceId) => this.candidates.add(`${machineId}/${instanceId}`),
      forgetCandidate: (machineId, instanceId) => this.candidates.delete(`${machineId}/${instanceId}`),
    });
  }

  start(initial: Machine[], apps: App[], stored: Map<string, CheckStatus[]>): void {
    for (const [id, c] of stored) this.checks.set(id, c);
    for (const a of apps) this.setAppRouting(a.name, a.routing);
    this.unsub = this.deps.bus.onMachine((m) => this.apply(m));
    for (const m of initial) this.apply(m);
  }

  /** Every health change of every machine (deploys wait on these). */
  onHealth(fn: (e: HealthChange) => void): () => void {
    this.health.on('change', fn);
    return () => this.health.off('change', fn);
  }

  /** See ReadinessWaiter.waitReady. */
  waitReady(m: Machine, ref: { machineId: string; instanceId: string }, port: number, exited: Promise<InstanceExit>, opts: WaitOptions): Promise<void> {
    return this.readiness.waitReady(m, ref, port, exited, opts);
  }

  /** See ReadinessWaiter.waitHealthy. */
  waitHealthy(m: Machine, exited: Promise<InstanceExit>, opts: WaitOptions): Promise<void> {
    return this.readiness.waitHealthy(m, exited, opts);
  }

  /** Applies an app's stored routing: hostnames, hold window, traffic sets and pins, dedicated ports. */
  setAppRouting(app: string, r: AppRouting): void {
    for (const [host, owner] of this.hostnames) if (owner === app) this.hostnames.delete(host);
    for (const h of r.hostnames ?? []) this.hostnames.set(h.toLowerCase(), app);
    this.table.setTraffic(app, { holdMs: r.holdTimeoutMs ?? DEFAULT_HOLD_MS, idleTimeoutMs: r.idleTimeoutMs, sets: r.sets, pins: r.pins });
    if (r.forceHttps) this.forceHttps.add(app);
    else this.forceHttps.delete(app);
    this.deps.onPorts?.(app, r.ports ?? [], r.tlsPorts ?? []);
    this.deps.onHosts?.();
  }

  stop(): void {
    this.unsub?.();
    this.monitor.stop();
    for (const id of [...this.probes.keys()]) this.stopProbe(id);
  }

  checksOf(machineId: string): CheckStatus[] {
    return this.checks.get(machineId) ?? [];
  }

  /** Whether plain HTTP requests of the app are redirected to HTTPS. */
  forcesHttps(app: string): boolean {
    return this.forceHttps.has(app);
  }

  appForHost(host: string): string | undefined {
    return appForHost(this.hostnames, host);
  }

  /** Every configured hostname with its app, and the apps that force HTTPS (for the proxy's workers). */
  hostView(): HostView {
    return { hostnames: [...this.hostnames], forceHttps: [...this.forceHttps] };
  }

  private apply(m: Machine): void {
    if (m.state === 'destroyed') {
      this.table.remove(m.appName, m.id);
      this.monitor.unwatch(m.id);
      this.stopProbe(m.id);
      this.watching.delete(m.id);
      this.checks.delete(m.id);
      return;
    }
    const started = m.state === 'started' && m.port !== null;
    this.route(m, started);
    const watched = this.watching.get(m.id);
    const key = `${m.instanceId}:${m.port}`;
    if (started && watched !== key && this.candidates.delete(`${m.id}/${m.instanceId}`)) {
      // A deploy's candidate that already proved ready: keep its watch, no gap in routing.
      if (watched) this.monitor.unwatch(m.id, watched.split(':')[0]);
      this.stopProbe(m.id);
      this.watching.set(m.id, key);
      const gated = this.specsOf(m).some((x) => x.gatesRouting);
      this.setHealthy(m.id, m.instanceId, gated ? this.monitor.isRoutable(m.id, m.instanceId) : true);
      return;
    }
    if (started && watched !== key) {
      this.monitor.unwatch(m.id);
      this.stopProbe(m.id);
      const specs = this.specsOf(m);
      this.watching.set(m.id, key);
      if (specs.length > 0) this.monitor.watch({ machineId: m.id, instanceId: m.instanceId, port: m.port! }, specs);
      if (!specs.some((s) => s.gatesRouting) && serves(m)) this.probeThenRoute(m);
      this.deps.log.debug({ machine: m.id, checks: specs.length }, 'watching machine health');
    } else if (!started && watched) {
      this.monitor.unwatch(m.id);
      this.stopProbe(m.id);
      this.watching.delete(m.id);
      this.setHealthy(m.id, m.instanceId, false);
    }
  }

  /**
   * Only machines of the process groups a service serves are in the proxy's table (a worker with no
   * service never gets a request); the others are checked but not routed to.
   */
  private route(m: Machine, started: boolean): void {
    if (!serves(m)) {
      if (this.table.backends(m.appName).some((b) => b.machineId === m.id)) this.table.remove(m.appName, m.id);
      return;
    }
    const limits = m.config.services.find((s) => s.concurrency)?.concurrency;
    this.table.upsert({
      machineId: m.id,
      instanceId: m.instanceId,
      app: m.appName,
      region: m.region,
      host: '127.0.0.1',
      port: started ? m.port : null,
      inService: started && !m.cordoned,
      softLimit: limits?.soft_limit,
      hardLimit: limits?.hard_limit,
      h2: m.config.services.some((s) => s.ports.some((p) => p.http_options?.h2_backend)),
    });
  }

  /** No check gates routing: the instance becomes routable once its port accepts connections. */
  private probeThenRoute(m: Machine): void {
    const { id, instanceId } = m;
    this.setHealthy(id, instanceId, false);
    this.probes.set(
      id,
      probeUntilOpen('127.0.0.1', m.port!, () => {
        this.probes.delete(id);
        this.setHealthy(id, instanceId, true);
      }),
    );
  }

  /**
   * A machine of another host, as the cluster reports it: in the table with that host's node as its
   * address, its health as that host's checks decide (see `setRemoteHealth`).
   */
  applyRemote(m: Machine, via: RemoteHost): void {
    if (m.state === 'destroyed' || !serves(m)) {
      if (this.remote.delete(m.id) || this.table.backends(m.appName).some((b) => b.machineId === m.id)) this.table.remove(m.appName, m.id);
      return;
    }
    this.remote.set(m.id, { hostId: via.id, instanceId: m.instanceId, app: m.appName });
    const started = m.state === 'started' && m.port !== null;
    const limits = m.config.services.find((s) => s.concurrency)?.concurrency;
    this.table.upsert({ machineId: m.id, instanceId: m.instanceId, app: m.appName, region: m.region, host: via.address, port: started ? via.proxyPort : null, inService: started && !m.cordoned, softLimit: limits?.soft_limit, hardLimit: limits?.hard_limit, remote: true });
  }

  /** Whether another host's instance takes traffic, as its node reported. */
  setRemoteHealth(machineId: string, instanceId: string, routable: boolean): void {
    this.table.setHealthy(machineId, instanceId, routable);
  }

  /** A host went down: none of its machines takes traffic until its node reports them again. */
  hostDown(hostId: string): void {
    for (const [id, r] of this.remote) if (r.hostId === hostId) this.table.setHealthy(id, r.instanceId, false);
  }

  /** Other hosts' machines this node routes to (for a full resync). */
  remoteMachines(): string[] {
    return [...this.remote.keys()];
  }

  /** Drops another host's machine that no longer exists. */
  forgetRemote(machineId: string): void {
    const r = this.remote.get(machineId);
    if (!r) return;
    this.remote.delete(machineId);
    this.table.remove(r.app, machineId);
  }

  private setHealthy(machineId: string, instanceId: string, routable: boolean): void {
    this.table.setHealthy(machineId, instanceId, routable);
    this.deps.onHealthy?.(machineId, instanceId, routable);
  }

  private stopProbe(machineId: string): void {
    this.probes.get(machineId)?.();
    this.probes.delete(machineId);
  }

  private specsOf(m: Machine): CheckSpec[] {
    try {
      return checkSpecsFor(m.config, m.port!);
    } catch (err) {
      // The API validates configs, so this is a stored config from an older version: run no checks.
      this.deps.log.error({ err, machine: m.id }, 'machine has invalid checks; not checking it');
      return [];
    }
  }
}

/** Whether any service of the machine's process group takes traffic. */
function serves(m: Machine): boolean {
  return m.config.services.length > 0;
}
