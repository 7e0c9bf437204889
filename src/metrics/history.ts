import { parseDuration } from '../core/duration.js';
import { UserError } from '../core/errors.js';
import type { TrafficWindows, WindowScope, WindowStats } from '../core/window-stats.js';
import type { AppMachines, FleetSource } from './fleet.js';
import { BoundedRing } from './ring.js';

/** How far back the history reaches. */
export const HISTORY_SPAN_MS = 3_600_000;
export const DEFAULT_HISTORY_INTERVAL_MS = 10_000;
/**
 * Intervals are whole seconds, since the proxies count in whole seconds; at most 5 minutes, so a
 * window (an interval plus a second of margin) stays inside the proxies' 10 minutes of memory.
 */
export const HISTORY_INTERVAL_MS = { min: 1000, max: 300_000 } as const;

/** One interval's traffic of an app or of one of its releases. */
export interface HistoryFigures {
  requests: number;
  /** 5xx responses plus requests that got no response at all. */
  errors5xx: number;
  /** Latency percentiles of the requests that got a response; null when none did. */
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Figures of the interval that ends at `t` (ms since the epoch). */
export interface HistoryPoint extends HistoryFigures {
  t: number;
}

export interface AppHistory {
  intervalMs: number;
  /** The app's points, oldest first. */
  points: HistoryPoint[];
  /** Per release version (null: machines without one), the points of the rounds it had machines in. */
  releases: Array<{ version: number | null; points: HistoryPoint[] }>;
}

/** What a round did: `skipped` when the previous one is still running or no new second has passed. */
export type RoundOutcome = 'recorded' | 'skipped' | 'failed';

export interface MetricsHistoryOptions {
  windows: TrafficWindows;
  fleet: FleetSource;
  /** Where skipped and failed rounds are told (pino's logger fits). */
  log: { warn(fields: object, message: string): void };
  /** Default 10 s; whole seconds within HISTORY_INTERVAL_MS. */
  intervalMs?: number;
  /** The clock points are stamped and windows measured with (the timer itself runs on real time). */
  now?: () => number;
}

interface StoredPoint {
  t: number;
  app: HistoryFigures;
  releases: Map<number | null, HistoryFigures>;
}

/**
 * An hour of request metrics per app and per release, for live charts. Every interval, on the
 * interval's epoch boundaries, one `windows()` call asks for each app's traffic and each of its
 * releases' since the previous point; each app keeps the last hour of points in a ring.
 *
 * The proxies count whole seconds, and a window always includes the current, partial second, so a
 * point covers the seconds from the previous point's end to its own `t`: a round that runs late by a
 * few milliseconds counts those milliseconds in two points, one that runs early leaves them out of
 * both. A failed round leaves a gap (no point), and a point never covers more than one interval, so
 * requests / interval is its rate.
 */
export class MetricsHistory {
  readonly intervalMs: number;
  private readonly now: () => number;
  private readonly rings = new Map<string, BoundedRing<StoredPoint>>();
  private readonly capacity: number;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  /** Where the latest point's seconds end (ms): the next window starts there. */
  private lastEnd = -Infinity;

  constructor(private readonly opts: MetricsHistoryOptions) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_HISTORY_INTERVAL_MS;
    if (!validInterval(this.intervalMs)) throw new RangeError(`MetricsHistory: intervalMs must be whole seconds in [${HISTORY_INTERVAL_MS.min}, ${HISTORY_INTERVAL_MS.max}], got ${this.intervalMs}`);
    this.capacity = Math.floor(HISTORY_SPAN_MS / this.intervalMs);
    this.now = opts.now ?? Date.now;
  }

  /** Runs a round on every interval boundary until `stop()`. */
  start(): void {
    if (this.timer || this.stopped) return;
    this.schedule();
  }

  /** Stops the timer; a round still running records nothing. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round now (the timer's; tests call it directly). Never throws. */
  async tick(): Promise<RoundOutcome> {
    if (this.stopped) return 'skipped';
    if (this.running) {
      // Overlapping rounds would pile up on a slow peer; this interval becomes a gap instead.
      this.opts.log.warn({ interval_ms: this.intervalMs }, 'the previous metrics history round is still running; skipping this one');
      return 'skipped';
    }
    this.running = true;
    try {
      return await this.round();
    } catch (err) {
      if (!this.stopped) this.opts.log.warn({ err }, 'metrics history round failed; its interval stays a gap');
      return 'failed';
    } finally {
      this.running = false;
    }
  }

  /** The app's points with t > `since` (all of the last hour without it); empty for an app not seen yet. */
  history(app: string, since?: number): AppHistory {
    const after = Math.max(since ?? -Infinity, this.now() - HISTORY_SPAN_MS);
    const kept = (this.rings.get(app)?.toArray() ?? []).filter((p) => p.t > after);
    const versions = new Set(kept.flatMap((p) => [...p.releases.keys()]));
    const releases = [...versions].sort(byVersion).map((version) => ({
      version,
      points: kept.flatMap((p) => {
        const f = p.releases.get(version);
        return f ? [{ t: p.t, ...f }] : [];
      }),
    }));
    return { intervalMs: this.intervalMs, points: kept.map((p) => ({ t: p.t, ...p.app })), releases };
  }

  private schedule(): void {
    // On epoch multiples of the interval: points fall on whole seconds, and on the same instants on every node.
    const delay = this.intervalMs - (Date.now() % this.intervalMs);
    this.timer = setTimeout(() => {
      this.schedule();
      void this.tick();
    }, delay);
    this.timer.unref();
  }

  private async round(): Promise<RoundOutcome> {
    const fleet = await this.opts.fleet();
    const now = this.now();
    const t = Math.round(now / 1000) * 1000;
    // After a gap, only the last interval: a point never swells to cover the time missed.
    const from = Math.max(this.lastEnd, t - this.intervalMs);
    if (t <= from) return 'skipped';
    const plan = planOf(fleet);
    // The window's first whole second is `from`'s; the half second of margin absorbs the proxies'
    // clocks being a little ahead or behind this one.
    const stats = await this.opts.windows.windows(plan.scopes, now - from + 500);
    if (stats.length !== plan.scopes.length) throw new Error(`asked for ${plan.scopes.length} windows, got ${stats.length}`);
    if (this.stopped) return 'skipped';
    this.store(t, plan, stats);
    this.lastEnd = t;
    return 'recorded';
  }

  private store(t: number, plan: Plan, stats: WindowStats[]): void {
    const seen = new Set<string>();
    for (const a of plan.apps) {
      seen.add(a.app);
      let ring = this.rings.get(a.app);
      if (!ring) this.rings.set(a.app, (ring = new BoundedRing(this.capacity)));
      ring.push({ t, app: figuresOf(stats[a.at]!), releases: new Map(a.releases.map((r) => [r.version, figuresOf(stats[r.at]!)])) });
    }
    // Deleted apps go with their history.
    for (const app of this.rings.keys()) if (!seen.has(app)) this.rings.delete(app);
  }
}

/** Every scope of a round, in one list, and where each app's and release's answer sits in it. */
interface Plan {
  scopes: WindowScope[];
  apps: Array<{ app: string; at: number; releases: Array<{ version: number | null; at: number }> }>;
}

function planOf(fleet: AppMachines[]): Plan {
  const scopes: WindowScope[] = [];
  const apps = fleet.map((a) => {
    const byRelease = new Map<number | null, string[]>();
    for (const m of a.machines) byRelease.set(m.release, [...(byRelease.get(m.release) ?? []), m.id]);
    const at = scopes.push({ app: a.app }) - 1;
    const releases = [...byRelease].map(([version, machines]) => ({ version, at: scopes.push({ machines }) - 1 }));
    return { app: a.app, at, releases };
  });
  return { scopes, apps };
}

function figuresOf(s: WindowStats): HistoryFigures {
  return { requests: s.requests, errors5xx: s.errors, p50Ms: s.p50Ms, p95Ms: s.p95Ms };
}

/** Versions in ascending order, machines without a release last. */
function byVersion(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

function validInterval(ms: number): boolean {
  return Number.isInteger(ms) && ms % 1000 === 0 && ms >= HISTORY_INTERVAL_MS.min && ms <= HISTORY_INTERVAL_MS.max;
}

/**
 * The interval from `HANGAR_METRICS_INTERVAL` (a duration such as "10s"); undefined when unset. A
 * value that is not whole seconds from 1s to 5m is refused rather than replaced by the default.
 */
export function historyIntervalFromEnv(raw: string | undefined): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined || !validInterval(ms)) {
    throw new UserError({ code: 'invalid_duration', message: `HANGAR_METRICS_INTERVAL ${JSON.stringify(raw)} is not a whole number of seconds from 1s to 5m`, hint: 'e.g. HANGAR_METRICS_INTERVAL=10s, or unset it for the default' });
  }
  return ms;
}
