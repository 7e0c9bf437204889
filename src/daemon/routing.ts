import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { App, AppRouting, CheckStatus, Machine } from '../core/types.js';
import { checkSpecsFor, HealthMonitor, type HealthChange } from '../health/index.js';
import type { MachineBus } from '../machines/bus.js';
import { RoutingTable } from '../proxy/routing-table.js';
import { UserError } from '../core/errors.js';
import { connect } from 'node:net';

/** Default hold window: how long a request waits for a routable machine before a 503. */
export const DEFAULT_HOLD_MS = 5000;

/**
 * Connects machine events to health checks and the proxy's routing table: a started machine is checked
 * (or routable at once when it has no routing checks); a machine leaving `started` or cordoned leaves
 * rotation immediately. Check results are kept for the API's machine JSON.
 */
export interface RoutingDeps {
  bus: MachineBus;
  log: Logger;
  /** Persists a machine's latest check results. */
  saveChecks: (machineId: string, checks: CheckStatus[]) => Promise<void>;
  /** The proxy's dedicated listeners per app changed. */
  onPorts?: (app: string, ports: number[]) => void;
}

export class Routing {
  readonly table = new RoutingTable(DEFAULT_HOLD_MS);
  private readonly monitor: HealthMonitor;
  private readonly checks = new Map<string, CheckStatus[]>();
  private readonly watching = new Map<string, string>();
  private readonly hostnames = new Map<string, string>();
  private readonly health = new EventEmitter();
  /** Instances a deploy is bringing up next to a machine's current one. */
  private readonly candidates = new Set<string>();
  private unsub?: () => void;

  constructor(private readonly deps: RoutingDeps) {
    this.health.setMaxListeners(0);
    this.monitor = new HealthMonitor({
      onChange: (e) => {
        this.checks.set(e.machineId, e.checks.map(({ gatesRouting: _g, ...c }) => c));
        this.table.setHealthy(e.machineId, e.instanceId, e.routable);
        this.deps.saveChecks(e.machineId, this.checks.get(e.machineId)!).catch((err) => this.deps.log.warn({ err, machine: e.machineId }, 'could not store check results'));
        this.health.emit('change', e);
      },
      onError: (err) => this.deps.log.error({ err }, 'health consumer failed'),
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

  /**
   * Readiness of a new instance a deploy started next to the current one: every check (routing and
   * top-level) passing; without checks, a machine with a service must accept TCP connections and one
   * without must stay up `minUpMs`. Rejects when the instance exits first (a crash fails fast, not at
   * the timeout) or after `timeoutMs`.
   */
  async waitReady(m: Machine, ref: { machineId: string; instanceId: string }, port: number, exited: Promise<{ exitCode: number | null; signal: string | null }>, opts: { timeoutMs: number; minUpMs: number }): Promise<void> {
    const specs = checkSpecsFor(m.config, port);
    const key = `${ref.machineId}/${ref.instanceId}`;
    let cancel = () => {};
    const ready = new Promise<void>((resolve) => {
      if (specs.length > 0) {
        this.candidates.add(key);
        const off = this.onHealth((e) => {
          if (e.machineId === ref.machineId && e.instanceId === ref.instanceId && e.allPassing) resolve();
        });
        this.monitor.watch({ ...ref, port }, specs);
        cancel = off;
      } else if (m.config.services.length > 0) {
        const timer = setInterval(() => {
          void tcpOpen(port).then((ok) => ok && resolve());
        }, 25);
        cancel = () => clearInterval(timer);
      } else {
        const timer = setTimeout(resolve, opts.minUpMs);
        cancel = () => clearTimeout(timer);
      }
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UserError({ code: 'wait_timeout', kind: 'timeout', message: `machine ${ref.machineId} did not pass its checks within ${opts.timeoutMs} ms`, hint: 'raise --wait-timeout, or look at hangar logs and the check output in hangar machines status' })), opts.timeoutMs);
    });
    const crash = exited.then((e) => {
      throw new UserError({ code: 'machine_crashed', message: `machine ${ref.machineId} exited (code ${e.exitCode ?? e.signal}) while starting`, hint: `see its output: hangar logs --no-tail --machine ${ref.machineId}` });
    });
    crash.catch(() => {}); // an exit after the instance was ready is the lifecycle's business, not this wait's
    try {
      await Promise.race([ready, timeout, crash]);
    } catch (err) {
      this.candidates.delete(key);
      this.monitor.unwatch(ref.machineId, ref.instanceId);
      throw err;
    } finally {
      cancel();
      clearTimeout(timer);
    }
  }

  /**
   * Until a machine's current instance passes every check (as waitReady, for an instance that is
   * already the machine's own: its checks are watched by `apply`).
   */
  async waitHealthy(m: Machine, exited: Promise<{ exitCode: number | null; signal: string | null }>, opts: { timeoutMs: number; minUpMs: number }): Promise<void> {
    const specs = checkSpecsFor(m.config, m.port ?? 0);
    if (specs.length === 0 || m.port === null) return this.waitReady(m, { machineId: m.id, instanceId: m.instanceId }, m.port ?? 0, exited, opts);
    const passing = () => {
      const st = this.monitor.status(m.id, m.instanceId);
      return st.length > 0 && st.every((c) => c.status === 'passing');
    };
    if (passing()) return;
    const crash = exited.then((e) => {
      throw new UserError({ code: 'machine_crashed', message: `machine ${m.id} exited (code ${e.exitCode ?? e.signal}) while starting`, hint: `see its output: hangar logs --no-tail --machine ${m.id}` });
    });
    crash.catch(() => {}); // a later exit is the lifecycle's business
    let off = () => {};
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        new Promise<void>((resolve) => {
          off = this.onHealth((e) => e.machineId === m.id && e.instanceId === m.instanceId && e.allPassing && resolve());
          if (passing()) resolve();
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new UserError({ code: 'wait_timeout', kind: 'timeout', message: `machine ${m.id} did not pass its checks within ${opts.timeoutMs} ms`, hint: 'raise --wait-timeout, or look at hangar logs' })), opts.timeoutMs);
        }),
        crash,
      ]);
    } finally {
      off();
      clearTimeout(timer);
    }
  }

  /** Applies an app's stored routing: hostnames, hold window, traffic sets and pins, dedicated ports. */
  setAppRouting(app: string, r: AppRouting): void {
    for (const [host, owner] of this.hostnames) if (owner === app) this.hostnames.delete(host);
    for (const h of r.hostnames ?? []) this.hostnames.set(h.toLowerCase(), app);
    this.table.setTraffic(app, { holdMs: r.holdTimeoutMs ?? DEFAULT_HOLD_MS, idleTimeoutMs: r.idleTimeoutMs, sets: r.sets, pins: r.pins });
    this.deps.onPorts?.(app, r.ports ?? []);
  }

  stop(): void {
    this.unsub?.();
    this.monitor.stop();
  }

  checksOf(machineId: string): CheckStatus[] {
    return this.checks.get(machineId) ?? [];
  }

  appForHost(host: string): string | undefined {
    const named = this.hostnames.get(host);
    if (named) return named;
    const m = /^([a-z][a-z0-9-]*)\.localhost$/.exec(host);
    return m?.[1];
  }

  private apply(m: Machine): void {
    if (m.state === 'destroyed') {
      this.table.remove(m.appName, m.id);
      this.monitor.unwatch(m.id);
      this.watching.delete(m.id);
      this.checks.delete(m.id);
      return;
    }
    const started = m.state === 'started' && m.port !== null;
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
    });
    const watched = this.watching.get(m.id);
    const key = `${m.instanceId}:${m.port}`;
    if (started && watched !== key && this.candidates.delete(`${m.id}/${m.instanceId}`)) {
      // A deploy's candidate that already passed its checks: keep its watch, no gap in routing.
      if (watched) this.monitor.unwatch(m.id, watched.split(':')[0]);
      this.watching.set(m.id, key);
      const gated = checkSpecsFor(m.config, m.port!).some((x) => x.gatesRouting);
      this.table.setHealthy(m.id, m.instanceId, gated ? this.monitor.isRoutable(m.id, m.instanceId) : true);
      return;
    }
    if (started && watched !== key) {
      this.monitor.unwatch(m.id);
      let specs: ReturnType<typeof checkSpecsFor> = [];
      try {
        specs = checkSpecsFor(m.config, m.port!);
      } catch (err) {
        // The API validates configs, so this is a stored config from an older version: run no checks.
        this.deps.log.error({ err, machine: m.id }, 'machine has invalid checks; not checking it');
      }
      this.watching.set(m.id, key);
      if (specs.length > 0) this.monitor.watch({ machineId: m.id, instanceId: m.instanceId, port: m.port! }, specs);
      if (!specs.some((s) => s.gatesRouting)) this.table.setHealthy(m.id, m.instanceId, true);
      this.deps.log.debug({ machine: m.id, checks: specs.length }, 'watching machine health');
    } else if (!started && watched) {
      this.monitor.unwatch(m.id);
      this.watching.delete(m.id);
      this.table.setHealthy(m.id, m.instanceId, false);
    }
  }
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
