/**
 * Runs the checks of every watched machine instance and tells one consumer callback whenever an
 * instance's health changes. Health flows outward through `onChange`; nobody has to poll. The proxy
 * reads `routable`, deploys read `allPassing`.
 */
import { CheckLoop } from './check-loop.js';
import type { CheckSpec } from './specs.js';
import { summarize, type CheckState, type HealthChange } from './state.js';

/** One running instance of a machine. */
export interface HealthTarget {
  machineId: string;
  instanceId: string;
  /** The machine's PORT. The specs already carry resolved ports; this is kept for the record. */
  port: number;
}

export interface HealthMonitorOptions {
  /** Called synchronously on every change; it may call back into the monitor (e.g. `unwatch`). */
  onChange: (change: HealthChange) => void;
  /** Where machines listen; default `127.0.0.1`. */
  host?: string;
  /** Clock for `updatedAt`; default `Date.now`. */
  now?: () => number;
  /** Lower bound for every check interval; default 0. */
  minIntervalMs?: number;
  /** Aborting it is the same as calling `stop()`. */
  signal?: AbortSignal;
  /**
   * Receives errors thrown by `onChange`. By default they are rethrown on a microtask, so a consumer's
   * bug surfaces as an uncaught exception instead of silently freezing the checks that reported it.
   */
  onError?: (err: unknown) => void;
}

interface Watch {
  target: HealthTarget;
  loops: CheckLoop[];
}

export class HealthMonitor {
  private readonly watches = new Map<string, Watch>();
  private readonly host: string;
  private readonly now: () => number;
  private readonly minIntervalMs: number;
  private stopped = false;

  constructor(private readonly opts: HealthMonitorOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.now = opts.now ?? Date.now;
    this.minIntervalMs = opts.minIntervalMs ?? 0;
    if (opts.signal?.aborted) this.stop();
    else opts.signal?.addEventListener('abort', () => this.stop(), { once: true });
  }

  /**
   * Starts checking one instance, replacing any earlier watch of the same machine + instance. Emits at
   * once with every check `critical` ("waiting for grace period"); each check first runs after its grace
   * period, then every interval. With no specs it emits an empty, routable list. Ignored after `stop()`.
   */
  watch(target: HealthTarget, specs: readonly CheckSpec[]): void {
    if (this.stopped) return;
    const key = keyOf(target.machineId, target.instanceId);
    this.dispose(key);
    const watch: Watch = { target: { ...target }, loops: [] };
    const onUpdate = () => this.emit(watch);
    const deps = { host: this.host, now: this.now, minIntervalMs: this.minIntervalMs, onUpdate };
    watch.loops = specs.map((spec) => new CheckLoop(spec, deps));
    this.watches.set(key, watch);
    this.emit(watch);
    // The initial emission may have reached a consumer that already unwatched it; start() is then a no-op.
    for (const loop of watch.loops) loop.start();
  }

  /** Stops checking one instance, or every instance of the machine when `instanceId` is omitted. */
  unwatch(machineId: string, instanceId?: string): void {
    if (instanceId !== undefined) {
      this.dispose(keyOf(machineId, instanceId));
      return;
    }
    for (const [key, watch] of this.watches) {
      if (watch.target.machineId === machineId) this.dispose(key);
    }
  }

  /**
   * Current checks of an instance (copies). Without `instanceId`, the most recently watched instance of
   * the machine. Empty when not watched.
   */
  status(machineId: string, instanceId?: string): CheckState[] {
    return this.find(machineId, instanceId)?.loops.map((l) => ({ ...l.state })) ?? [];
  }

  /** Whether the proxy may route to this instance; false when it is not watched. */
  isRoutable(machineId: string, instanceId: string): boolean {
    const watch = this.find(machineId, instanceId);
    return watch !== undefined && summarize(watch.loops.map((l) => l.state)).routable;
  }

  /** Clears every timer and cancels probes in flight. Final: later `watch()` calls are ignored. */
  stop(): void {
    this.stopped = true;
    for (const key of [...this.watches.keys()]) this.dispose(key);
  }

  private dispose(key: string): void {
    const watch = this.watches.get(key);
    if (!watch) return;
    this.watches.delete(key);
    for (const loop of watch.loops) loop.stop();
  }

  private find(machineId: string, instanceId: string | undefined): Watch | undefined {
    if (instanceId !== undefined) return this.watches.get(keyOf(machineId, instanceId));
    // Map order is insertion order and a re-watch re-inserts, so the last match is the newest.
    let found: Watch | undefined;
    for (const watch of this.watches.values()) if (watch.target.machineId === machineId) found = watch;
    return found;
  }

  private emit(watch: Watch): void {
    // A replaced or unwatched instance has nothing more to say.
    if (this.watches.get(keyOf(watch.target.machineId, watch.target.instanceId)) !== watch) return;
    const checks = watch.loops.map((l) => ({ ...l.state }));
    const change: HealthChange = {
      machineId: watch.target.machineId,
      instanceId: watch.target.instanceId,
      checks,
      ...summarize(checks),
    };
    try {
      this.opts.onChange(change);
    } catch (err) {
      this.reportError(err);
    }
  }

  private reportError(err: unknown): void {
    if (this.opts.onError) this.opts.onError(err);
    else
      queueMicrotask(() => {
        throw err;
      });
  }
}

/** Machine ids and instance ids are ULIDs/nanoids, so a NUL separator cannot collide. */
function keyOf(machineId: string, instanceId: string): string {
  return `${machineId}\u0000${instanceId}`;
}
