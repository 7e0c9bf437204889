import { EventEmitter } from 'node:events';

/** One machine instance as the proxy sees it. */
export interface Backend {
  machineId: string;
  instanceId: string;
  app: string;
  region: string;
  host: string;
  port: number;
  /** started, not cordoned, not leaving, and passing its routing checks. */
  routable: boolean;
  /** Requests (and upgraded connections) currently being served. */
  inflight: number;
}

export interface BackendUpdate {
  machineId: string;
  instanceId: string;
  app: string;
  region: string;
  host: string;
  port: number | null;
  /** Whether the machine's state allows traffic (started, not cordoned). */
  inService: boolean;
}

/**
 * The proxy's view of every app's machines, fed by machine and health events (never by reading the
 * database). Picking is least-outstanding-requests with a random tie-break, preferring a region when
 * asked. Everyone waiting for an app to get a routable machine is woken through `changed`.
 */
export class RoutingTable {
  private readonly byApp = new Map<string, Map<string, Backend>>();
  private readonly inService = new Map<string, boolean>();
  private readonly healthy = new Map<string, boolean>();
  private readonly drainWaiters = new Map<string, Array<() => void>>();
  private readonly ee = new EventEmitter();

  constructor() {
    this.ee.setMaxListeners(0);
  }

  /** A machine changed (state, cordon, instance, port). */
  upsert(u: BackendUpdate): void {
    const apps = this.appMap(u.app);
    for (const [key, b] of apps) {
      // A newer instance of the machine replaces the older one's entry once it has a port;
      // the old entry stays (not routable) while requests on it finish.
      if (b.machineId === u.machineId && b.instanceId !== u.instanceId) {
        this.inService.set(key, false);
        this.refresh(b, key);
        if (b.inflight === 0) apps.delete(key);
      }
    }
    const key = keyOf(u.machineId, u.instanceId);
    if (u.port === null) {
      this.inService.set(key, false);
      const b = apps.get(key);
      if (b) {
        this.refresh(b, key);
        if (b.inflight === 0) apps.delete(key);
      }
      this.ee.emit('changed', u.app);
      return;
    }
    let b = apps.get(key);
    if (!b) {
      b = { machineId: u.machineId, instanceId: u.instanceId, app: u.app, region: u.region, host: u.host, port: u.port, routable: false, inflight: 0 };
      apps.set(key, b);
    }
    Object.assign(b, { region: u.region, host: u.host, port: u.port });
    this.inService.set(key, u.inService);
    this.refresh(b, key);
    this.ee.emit('changed', u.app);
  }

  /** Health of an instance's routing checks changed. */
  setHealthy(machineId: string, instanceId: string, healthy: boolean): void {
    const key = keyOf(machineId, instanceId);
    this.healthy.set(key, healthy);
    for (const [app, apps] of this.byApp) {
      const b = apps.get(key);
      if (b) {
        this.refresh(b, key);
        this.ee.emit('changed', app);
      }
    }
  }

  remove(app: string, machineId: string): void {
    const apps = this.byApp.get(app);
    if (!apps) return;
    for (const [key, b] of apps) {
      if (b.machineId !== machineId) continue;
      this.inService.set(key, false);
      this.refresh(b, key);
      if (b.inflight === 0) apps.delete(key);
    }
    this.ee.emit('changed', app);
  }

  has(app: string): boolean {
    return this.byApp.has(app);
  }

  dropApp(app: string): void {
    this.byApp.delete(app);
  }

  /** Requests in flight on any instance of the machine. */
  inflight(app: string, machineId: string): number {
    let n = 0;
    for (const b of this.byApp.get(app)?.values() ?? []) if (b.machineId === machineId) n += b.inflight;
    return n;
  }

  backends(app: string): Backend[] {
    return [...(this.byApp.get(app)?.values() ?? [])];
  }

  /** Least outstanding requests among routable backends (preferring `region`), random among equals. */
  pick(app: string, opts: { region?: string; exclude?: Set<string> } = {}): Backend | undefined {
    const all = this.backends(app).filter((b) => b.routable && !opts.exclude?.has(b.machineId));
    const local = opts.region ? all.filter((b) => b.region === opts.region) : [];
    const pool = local.length ? local : all;
    let best: Backend[] = [];
    for (const b of pool) {
      if (best.length === 0 || b.inflight < best[0]!.inflight) best = [b];
      else if (b.inflight === best[0]!.inflight) best.push(b);
    }
    return best.length ? best[Math.floor(Math.random() * best.length)] : undefined;
  }

  acquire(b: Backend): void {
    b.inflight++;
  }

  release(b: Backend): void {
    b.inflight = Math.max(0, b.inflight - 1);
    if (b.inflight > 0) return;
    const key = keyOf(b.machineId, b.instanceId);
    for (const w of this.drainWaiters.get(key) ?? []) w();
    this.drainWaiters.delete(key);
    if (!this.inService.get(key)) {
      const apps = this.byApp.get(b.app);
      if (apps?.get(key) === b && !b.routable && this.inService.get(key) === false) apps.delete(key);
    }
  }

  /** Resolves when the instance has nothing in flight, or after `timeoutMs`. Takes it out of rotation first. */
  async drain(machineId: string, instanceId: string, timeoutMs: number): Promise<void> {
    const key = keyOf(machineId, instanceId);
    let target: Backend | undefined;
    for (const [app, apps] of this.byApp) {
      const b = apps.get(key);
      if (!b) continue;
      target = b;
      this.inService.set(key, false);
      this.refresh(b, key);
      this.ee.emit('changed', app);
    }
    if (!target || target.inflight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      const list = this.drainWaiters.get(key) ?? [];
      list.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.drainWaiters.set(key, list);
    });
  }

  /** Calls `fn` whenever an app's routing may have changed; returns the unsubscribe. */
  onChange(fn: (app: string) => void): () => void {
    this.ee.on('changed', fn);
    return () => this.ee.off('changed', fn);
  }

  private appMap(app: string): Map<string, Backend> {
    let m = this.byApp.get(app);
    if (!m) {
      m = new Map();
      this.byApp.set(app, m);
    }
    return m;
  }

  private refresh(b: Backend, key: string): void {
    b.routable = (this.inService.get(key) ?? false) && (this.healthy.get(key) ?? false);
  }
}

export function keyOf(machineId: string, instanceId: string): string {
  return `${machineId}/${instanceId}`;
}
