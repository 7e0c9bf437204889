import { EventEmitter } from 'node:events';
import { bySet, inRegions } from './routing-pick.js';
import { DEFAULT_IDLE_MS, type AppTraffic, type Backend, type BackendUpdate, type PickOptions, type TableOp, type TableSnapshot } from './routing-types.js';

export type { AppTraffic, Backend, BackendUpdate, PickOptions, TableOp, TableSnapshot } from './routing-types.js';
export { DEFAULT_IDLE_MS } from './routing-types.js';

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
  private readonly traffic = new Map<string, AppTraffic>();
  /** Every machine of each app the table was told of and not told to remove (stopped ones too). */
  private readonly known = new Map<string, Set<string>>();
  private readonly ee = new EventEmitter();
  /** Other hosts' nodes (host:port) whose relays failed, until when they are left out. */
  private readonly suspects = new Map<string, number>();
  private homeRegion?: string;
  /** Called with every change, for the copies in worker processes. */
  onOp?: (op: TableOp) => void;
  /**
   * Where a drain waits when requests are served elsewhere (the workers): resolves once none is in
   * flight there, or after `timeoutMs`. Absent, the table's own counts are waited on.
   */
  drainVia?: (machineId: string, instanceId: string, timeoutMs: number) => Promise<void>;
  /** The last update of each instance, and the apps' traffic, for a snapshot. */
  private readonly lastUpdate = new Map<string, BackendUpdate>();

  /** This node's region: after this host's own machines, machines of its region are preferred. */
  get home(): string | undefined {
    return this.homeRegion;
  }

  set home(region: string | undefined) {
    this.homeRegion = region;
    this.onOp?.({ k: 'home', region });
  }

  constructor(private readonly defaultHoldMs = 5000) {
    this.ee.setMaxListeners(0);
  }

  /** A machine changed (state, cordon, instance, port). */
  upsert(u: BackendUpdate): void {
    this.onOp?.({ k: 'upsert', u });
    for (const [key, last] of this.lastUpdate) if (last.machineId === u.machineId && last.instanceId !== u.instanceId) this.lastUpdate.delete(key);
    this.lastUpdate.set(keyOf(u.machineId, u.instanceId), u);
    const apps = this.appMap(u.app);
    let known = this.known.get(u.app);
    if (!known) this.known.set(u.app, (known = new Set()));
    known.add(u.machineId);
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
      b = { machineId: u.machineId, instanceId: u.instanceId, app: u.app, region: u.region, host: u.host, port: u.port, routable: false, inflight: 0, lastActivity: Date.now() };
      apps.set(key, b);
    }
    Object.assign(b, { region: u.region, host: u.host, port: u.port, softLimit: u.softLimit, hardLimit: u.hardLimit, remote: u.remote, h2: u.h2 });
    this.inService.set(key, u.inService);
    this.refresh(b, key);
    this.ee.emit('changed', u.app);
  }

  /** Health of an instance's routing checks changed. */
  setHealthy(machineId: string, instanceId: string, healthy: boolean): void {
    this.onOp?.({ k: 'healthy', machineId, instanceId, healthy });
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
    this.onOp?.({ k: 'remove', app, machineId });
    for (const [key, last] of this.lastUpdate) if (last.machineId === machineId) this.lastUpdate.delete(key);
    this.known.get(app)?.delete(machineId);
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
    this.onOp?.({ k: 'dropApp', app });
    for (const [key, last] of this.lastUpdate) if (last.app === app) this.lastUpdate.delete(key);
    this.traffic.delete(app);
    this.byApp.delete(app);
    this.known.delete(app);
  }

  /** Whether `machineId` is a machine of `app` the proxy serves (routable now or not, on any host). */
  knows(app: string, machineId: string): boolean {
    return this.known.get(app)?.has(machineId) ?? false;
  }

  /** Requests in flight on any instance of the machine. */
  inflight(app: string, machineId: string): number {
    let n = 0;
    for (const b of this.byApp.get(app)?.values() ?? []) if (b.machineId === machineId) n += b.inflight;
    return n;
  }

  /** Every instance of every app. */
  allBackends(): Backend[] {
    return [...this.byApp.values()].flatMap((m) => [...m.values()]);
  }

  backends(app: string): Backend[] {
    return [...(this.byApp.get(app)?.values() ?? [])];
  }

  /** Hold window, traffic sets and pins of an app. */
  setTraffic(app: string, t: AppTraffic): void {
    this.onOp?.({ k: 'traffic', app, t });
    this.traffic.set(app, t);
    this.appMap(app);
    this.ee.emit('changed', app);
  }

  holdMs(app: string): number {
    return this.traffic.get(app)?.holdMs ?? this.defaultHoldMs;
  }

  idleTimeoutMs(app: string): number {
    return this.traffic.get(app)?.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  }

  /**
   * Chooses a backend: a pinned request goes to its set whatever the weights; otherwise a set is drawn by
   * weight (when the app has sets); then, among routable machines under their hard limit, those under the
   * soft limit win, then those in the region the request prefers, then this host's own, then those of
   * this host's region; least outstanding requests decides among what is left (random among equals).
   * A request for one machine (`only`) gets that machine or nothing; required regions (`regions`) narrow
   * the pool before anything else, and a preferred machine (`preferMachine`) wins when it is in it.
   */
  pick(app: string, opts: PickOptions = {}): Backend | undefined {
    const t = this.traffic.get(app);
    if (opts.only !== undefined) return this.backends(app).filter((b) => b.machineId === opts.only && takesWork(b)).sort((a, b) => loadOf(a) - loadOf(b))[0];
    const now = Date.now();
    let pool: Backend[] = [];
    for (const b of this.byApp.get(app)?.values() ?? []) if (takesWork(b, now) && !opts.exclude?.has(b.machineId) && !(b.remote && (this.suspects.get(`${b.host}:${b.port}`) ?? 0) > now)) pool.push(b);
    if (opts.regions?.length) pool = inRegions(pool, opts.regions);
    const preferred = opts.preferMachine !== undefined ? pool.find((b) => b.machineId === opts.preferMachine) : undefined;
    if (preferred) return preferred;
    if (t?.sets?.length) pool = bySet(t, pool, opts.headers);
    return preferredOf(pool, opts.region, this.home);
  }

  /**
   * For a request another node relayed to this host for `machineId`: that machine's routable instance
   * here, else another routable machine of the app here (the relaying node's view may be a moment old) —
   * unless the request is for that machine `only` (forced, or replayed to it): then nothing else.
   */
  relayTarget(machineId: string, opts: { only?: boolean } = {}): Backend | undefined {
    for (const [app, apps] of this.byApp) {
      const own = [...apps.values()].filter((b) => b.machineId === machineId);
      if (own.length === 0) continue;
      const ready = own.find((b) => takesWork(b) && !b.remote);
      if (ready || opts.only) return ready;
      const others = this.backends(app).filter((b) => takesWork(b) && !b.remote);
      return others.sort((a, b) => loadOf(a) - loadOf(b))[0];
    }
    return undefined;
  }

  /**
   * Another host's node just refused (or did not answer) a relay: none of its machines is picked for
   * `ms`, so requests go elsewhere at once instead of waiting for the host to be judged down. A
   * request for exactly one of its machines still goes there.
   */
  /**
   * Another host's machine is full (its own node counts every node's requests to it): passed over for
   * `ms`, then requests held for the app look again.
   */
  markFull(b: Backend, ms: number): void {
    b.fullUntil = Date.now() + ms;
    setTimeout(() => this.ee.emit('changed', b.app), ms).unref();
  }

  /** Whether this host runs `machineId` and it is at its hard limit. */
  atLimit(machineId: string): boolean {
    for (const apps of this.byApp.values()) for (const b of apps.values()) if (b.machineId === machineId && !b.remote && b.routable && !takesWork(b)) return true;
    return false;
  }

  suspect(host: string, port: number, ms: number): void {
    this.suspects.set(`${host}:${port}`, Date.now() + ms);
  }

  acquire(b: Backend): void {
    b.inflight++;
    b.lastActivity = Date.now();
  }

  /**
   * Milliseconds since the machine last had a request in flight (0 while it has one). A machine the
   * proxy does not route to (a worker group, a stopped machine) has had none: Infinity.
   */
  idleFor(app: string, machineId: string, now = Date.now()): number {
    let idle = Infinity;
    for (const b of this.byApp.get(app)?.values() ?? []) {
      if (b.machineId !== machineId) continue;
      idle = Math.min(idle, b.inflight > 0 ? 0 : now - b.lastActivity);
    }
    return idle;
  }

  release(b: Backend): void {
    b.inflight = Math.max(0, b.inflight - 1);
    b.lastActivity = Date.now();
    // Someone may be holding for a machine under its hard limit.
    if (b.hardLimit !== undefined && b.inflight === b.hardLimit - 1) this.ee.emit('changed', b.app);
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
    if (this.drainVia) return this.drainVia(machineId, instanceId, timeoutMs);
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

  /** The changes that rebuild this table's routing from nothing (for a worker that starts). */
  snapshot(): TableSnapshot {
    const ops: TableOp[] = [{ k: 'home', region: this.homeRegion }];
    for (const [app, t] of this.traffic) ops.push({ k: 'traffic', app, t });
    for (const [key, u] of this.lastUpdate) {
      ops.push({ k: 'upsert', u });
      const healthy = this.healthy.get(key);
      if (healthy !== undefined) ops.push({ k: 'healthy', machineId: u.machineId, instanceId: u.instanceId, healthy });
    }
    return { ops };
  }

  /** Replays a change made to another table (the daemon's, in a worker). */
  apply(op: TableOp): void {
    if (op.k === 'upsert') this.upsert(op.u);
    else if (op.k === 'healthy') this.setHealthy(op.machineId, op.instanceId, op.healthy);
    else if (op.k === 'remove') this.remove(op.app, op.machineId);
    else if (op.k === 'dropApp') this.dropApp(op.app);
    else if (op.k === 'traffic') this.setTraffic(op.app, op.t);
    else this.home = op.region;
  }

  /**
   * What the workers report of an instance's requests (summed over them): in-flight count and the last
   * activity, for autostop, the API and the table's own bookkeeping.
   */
  reported(app: string, machineId: string, instanceId: string, inflight: number, lastActivity: number): void {
    const b = this.byApp.get(app)?.get(keyOf(machineId, instanceId));
    if (!b) return;
    b.inflight = inflight;
    b.lastActivity = Math.max(b.lastActivity, lastActivity);
  }

  /** Every worker's requests on a limited instance, as the daemon counted them (see `shared`). */
  setShared(app: string, machineId: string, instanceId: string, n: number): void {
    const b = this.byApp.get(app)?.get(keyOf(machineId, instanceId));
    if (!b || b.shared === n) return;
    b.shared = n;
    this.ee.emit('changed', app);
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

/** What limits and balancing count: every worker's requests when known, else this process's. */
/**
 * The machine a request goes to among `pool`: under its soft limit first, then in the region the request
 * prefers, then on this host, then in this host's region (each only when some machine has it), then
 * the least outstanding requests; random among equals. One pass, no arrays: it runs for every request.
 */
function preferredOf(pool: Backend[], region: string | undefined, home: string | undefined): Backend | undefined {
  let best: Backend | undefined;
  let bestRank = -1;
  let bestLoad = 0;
  let ties = 0;
  for (const b of pool) {
    const load = loadOf(b);
    // The narrowing steps as bits, the first step the most significant.
    const rank = (b.softLimit === undefined || load < b.softLimit ? 8 : 0) + (region !== undefined && b.region === region ? 4 : 0) + (b.remote ? 0 : 2) + (home !== undefined && b.region === home ? 1 : 0);
    if (rank > bestRank || (rank === bestRank && load < bestLoad)) {
      best = b;
      bestRank = rank;
      bestLoad = load;
      ties = 1;
    } else if (rank === bestRank && load === bestLoad && Math.random() * ++ties < 1) best = b;
  }
  return best;
}

function loadOf(b: Backend): number {
  return b.shared ?? b.inflight;
}

/** Routable and under its hard limit (as counted here, and as its own host's node last said). */
function takesWork(b: Backend, now?: number): boolean {
  return b.routable && (b.hardLimit === undefined || loadOf(b) < b.hardLimit) && !(b.fullUntil !== undefined && b.fullUntil > (now ?? Date.now()));
}

export function keyOf(machineId: string, instanceId: string): string {
  return `${machineId}/${instanceId}`;
}

