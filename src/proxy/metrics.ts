/**
 * What the proxy saw, per machine: a rolling in-process window that deploys query (error rate and
 * latency percentiles to compare a canary against the rest) and Prometheus series operators scrape.
 *
 * `record()` sits on the request path, so it does constant work: a slot lookup, a few counter bumps,
 * one logarithm, and prom-client updates with label objects built once per machine. Everything
 * heavier (merging, percentiles, text exposition) happens when someone asks.
 */
import { Registry } from 'prom-client';
import { latencyBucket, quantileMs } from './metrics-histogram.js';
import { PromProxyMetrics, type MachineSeries } from './metrics-prom.js';
import {
  ERROR_CLASS_INDEXES,
  newMergeTarget,
  SecondRing,
  STATUS_CLASSES,
  type StatusClass,
} from './metrics-ring.js';

export type { StatusClass } from './metrics-ring.js';

/** One finished (or failed) proxied request. */
export interface RequestSample {
  app: string;
  machineId: string;
  /** HTTP status of the machine's response; 0 = connection failure / no response. */
  status: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  /** When it happened, ms since the epoch; defaults to the clock's now(). */
  at?: number;
}

export type { WindowStats } from '../core/window-stats.js';
import type { TrafficWindows, WindowCounts, WindowScope, WindowStats } from '../core/window-stats.js';

export interface ProxyMetricsOptions {
  now?: () => number;
  /** How far back `window()` can look; default 10 minutes, at least 1 s. Memory grows with it. */
  retentionMs?: number;
  /** Where the Prometheus metrics go; default a fresh registry (never prom-client's global one). */
  register?: Registry;
}

interface MachineEntry {
  readonly app: string;
  readonly series: MachineSeries;
  /** Created on the first recorded request, so machines that only report in-flight counts stay cheap. */
  ring: SecondRing | undefined;
}

const DEFAULT_RETENTION_MS = 10 * 60_000;
const FAILED = STATUS_CLASSES.indexOf('failed');

/**
 * Proxy metrics for every machine. Windows have one-second resolution: a window covers the whole
 * seconds that *started* within the last `windowMs` (the current, partial second included), so it
 * spans between `windowMs - 1 s` and `windowMs` of traffic.
 *
 * Machine ids are assumed unique across apps: a machine keeps the app it was first seen with.
 * If several instances share a given registry, only one may be created per registry (metric names
 * would clash).
 */
export class ProxyMetrics implements TrafficWindows {
  /** Content-Type header for the `prometheus()` body. */
  readonly contentType: string;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private readonly slotsPerMachine: number;
  private readonly prom: PromProxyMetrics;
  private readonly machines = new Map<string, MachineEntry>();
  private readonly machinesByApp = new Map<string, Set<string>>();

  constructor(opts: ProxyMetricsOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.retentionMs = opts.retentionMs ?? DEFAULT_RETENTION_MS;
    if (!Number.isFinite(this.retentionMs) || this.retentionMs < 1000) {
      throw new RangeError(`ProxyMetrics: retentionMs must be a finite number ≥ 1000, got ${opts.retentionMs}`);
    }
    // +1: a window of exactly retentionMs can touch one more distinct second than retention/1000.
    this.slotsPerMachine = Math.ceil(this.retentionMs / 1000) + 1;
    this.prom = new PromProxyMetrics(opts.register ?? new Registry());
    this.contentType = this.prom.register.contentType;
  }

  /** Counts one request. Constant time, no I/O; never throws on odd values (NaN, negatives). */
  record(s: RequestSample): void {
    const entry = this.entry(s.app, s.machineId);
    const cls = classIndex(s.status);
    // A connection failure has no response time, and counting how fast it failed would make a
    // canary that cannot even be reached look faster; it shows up in the error rate instead.
    const durationMs = cls === FAILED ? -1 : s.durationMs > 0 && s.durationMs < Infinity ? s.durationMs : 0;
    const at = s.at !== undefined && Number.isFinite(s.at) ? s.at : this.now();
    entry.ring ??= new SecondRing(this.slotsPerMachine);
    entry.ring.add(Math.floor(at / 1000), cls, durationMs < 0 ? -1 : latencyBucket(durationMs));
    this.prom.record(entry.series, cls, durationMs, s.bytesIn, s.bytesOut);
  }

  /** Sets the in-flight gauge for a machine (the proxy owns the count; this only exports it). */
  setInflight(app: string, machineId: string, n: number): void {
    this.prom.setInflight(this.entry(app, machineId).series, n);
  }

  /** Traffic of the given machines merged over the last `windowMs` (1 s ≤ windowMs ≤ retentionMs). */
  window(machineIds: Iterable<string>, windowMs: number): WindowStats {
    return statsOf(this.counts({ machines: [...machineIds] }, windowMs));
  }

  /** Traffic of every machine of `app` not yet forgotten, over the last `windowMs`. */
  appWindow(app: string, windowMs: number): WindowStats {
    return this.window(this.machinesByApp.get(app) ?? [], windowMs);
  }

  /** This proxy's windows for some scopes (on one host, the whole picture). */
  async windows(scopes: WindowScope[], windowMs: number): Promise<WindowStats[]> {
    return scopes.map((s) => statsOf(this.counts(s, windowMs)));
  }

  /** `counts` of several scopes (the shape every proxy front answers with, in-process or workers). */
  async countsOf(scopes: WindowScope[], windowMs: number): Promise<WindowCounts[]> {
    return scopes.map((s) => this.counts(s, windowMs));
  }

  /** The raw sums of a window, to be added to other proxies' (`addCounts`) before `statsOf`. */
  counts(scope: WindowScope, windowMs: number): WindowCounts {
    this.checkWindow(windowMs);
    const now = this.now();
    const fromSecond = Math.ceil((now - windowMs) / 1000);
    const toSecond = Math.floor(now / 1000);
    const merged = newMergeTarget();
    const ids = 'app' in scope ? (this.machinesByApp.get(scope.app) ?? []) : new Set(scope.machines);
    // A Set so a machine listed twice is not counted twice.
    for (const id of ids) this.machines.get(id)?.ring?.mergeInto(merged, fromSecond, toSecond);
    return { classes: [...merged.classes], latency: [...merged.latency], latencyTotal: merged.latencyTotal };
  }

  /**
   * Drops a destroyed machine's rolling data and its Prometheus series. Call it after the machine's
   * last request has finished: a later `record`/`setInflight` would start the machine afresh.
   */
  forget(machineId: string): void {
    const entry = this.machines.get(machineId);
    if (!entry) return;
    this.prom.remove(entry.series);
    this.machines.delete(machineId);
    const ids = this.machinesByApp.get(entry.app);
    ids?.delete(machineId);
    if (ids?.size === 0) this.machinesByApp.delete(entry.app);
  }

  /** This instance's series as prom-client's JSON, for a registry that adds up several proxies. */
  metricsJson(): Promise<unknown[]> {
    return this.prom.register.getMetricsAsJSON();
  }

  /** Prometheus text exposition of this instance's registry. */
  prometheus(): Promise<string> {
    return this.prom.register.metrics();
  }

  /**
   * What the rolling windows hold, for tests and debugging: slots per machine are fixed by the
   * retention, and histograms are never allocated beyond one per slot.
   */
  memoryStats(): { machines: number; slotsPerMachine: number; slots: number; histograms: number } {
    let slots = 0;
    let histograms = 0;
    for (const { ring } of this.machines.values()) {
      if (!ring) continue;
      slots += ring.size;
      histograms += ring.allocatedHistograms();
    }
    return { machines: this.machines.size, slotsPerMachine: this.slotsPerMachine, slots, histograms };
  }

  private entry(app: string, machineId: string): MachineEntry {
    let entry = this.machines.get(machineId);
    if (entry) return entry;
    entry = { app, series: this.prom.series(app, machineId), ring: undefined };
    this.machines.set(machineId, entry);
    let ids = this.machinesByApp.get(app);
    if (!ids) this.machinesByApp.set(app, (ids = new Set()));
    ids.add(machineId);
    return entry;
  }

  private checkWindow(windowMs: number): void {
    // Asking for more than is retained would quietly answer about a shorter period; that is a bug
    // in the caller's configuration, so say so.
    if (!Number.isFinite(windowMs) || windowMs < 1000 || windowMs > this.retentionMs) {
      throw new RangeError(`ProxyMetrics.window: windowMs must be within [1000, ${this.retentionMs}], got ${windowMs}`);
    }
  }
}

/**
 * Index into STATUS_CLASSES. 1xx counts as 2xx: the only 1xx a proxy reports as final is
 * 101 Switching Protocols, a successful WebSocket upgrade. Anything ≥ 600 counts as 5xx: an upstream
 * sending it is broken. Anything below 100 (0 by convention, or NaN) means no usable response.
 */
function classIndex(status: number): number {
  if (!(status >= 100)) return FAILED;
  if (status < 300) return 0;
  if (status < 400) return 1;
  if (status < 500) return 2;
  return 3;
}

/** An empty set of sums, to add windows to. */
export function emptyCounts(): WindowCounts {
  const m = newMergeTarget();
  return { classes: [...m.classes], latency: [...m.latency], latencyTotal: 0 };
}

/**
 * Adds `from` to `into` (another proxy's sums of the same window). Sums of another shape (a peer with
 * another histogram layout) are refused rather than added wrongly.
 */
export function addCounts(into: WindowCounts, from: WindowCounts): void {
  if (from.classes.length !== into.classes.length || from.latency.length !== into.latency.length) {
    throw new RangeError(`window counts of another shape: ${from.classes.length} classes, ${from.latency.length} latency buckets (expected ${into.classes.length}, ${into.latency.length})`);
  }
  for (let i = 0; i < into.classes.length; i++) into.classes[i]! += from.classes[i]!;
  for (let i = 0; i < into.latency.length; i++) into.latency[i]! += from.latency[i]!;
  into.latencyTotal += from.latencyTotal;
}

/** The figures of a window: requests, errors, error rate, latency percentiles. */
export function statsOf(m: WindowCounts): WindowStats {
  let requests = 0;
  for (const c of m.classes) requests += c;
  let errors = 0;
  for (const i of ERROR_CLASS_INDEXES) errors += m.classes[i]!;
  const byClass = {} as Record<StatusClass, number>;
  STATUS_CLASSES.forEach((name, i) => (byClass[name] = m.classes[i]!));
  return {
    requests,
    errors,
    errorRate: requests === 0 ? 0 : errors / requests,
    p50Ms: quantileMs(m.latency, m.latencyTotal, 0.5),
    p95Ms: quantileMs(m.latency, m.latencyTotal, 0.95),
    p99Ms: quantileMs(m.latency, m.latencyTotal, 0.99),
    byClass,
  };
}
