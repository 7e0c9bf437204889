import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { CLASS_COUNT, STATUS_CLASSES } from './metrics-ring.js';

/**
 * Response-time buckets for operators' dashboards, in seconds. Coarse on purpose: every bucket is a
 * time series per machine; the fine-grained percentiles canary analysis needs come from the
 * in-process histogram instead.
 */
const DURATION_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * One machine's label objects, built once so the hot path hands prom-client the same objects every
 * time, plus its running request and byte totals.
 */
export interface MachineSeries {
  readonly machine: { app: string; machine: string };
  readonly byClass: ReadonlyArray<{ app: string; machine: string; class: string }>;
  readonly bytesIn: { app: string; machine: string; direction: 'in' };
  readonly bytesOut: { app: string; machine: string; direction: 'out' };
  /** Requests per STATUS_CLASSES index since the machine was first seen. */
  readonly requests: Float64Array;
  /** [in, out]. */
  readonly bytes: Float64Array;
}

function machineSeries(app: string, machine: string): MachineSeries {
  return {
    machine: { app, machine },
    byClass: STATUS_CLASSES.map((c) => ({ app, machine, class: c })),
    bytesIn: { app, machine, direction: 'in' },
    bytesOut: { app, machine, direction: 'out' },
    requests: new Float64Array(CLASS_COUNT),
    bytes: new Float64Array(2),
  };
}

/**
 * The proxy's Prometheus metrics, all registered on one registry.
 *
 * The counters are kept as plain per-machine totals and copied into prom-client when it collects
 * (at scrape time): prom-client validates and hashes labels on every `inc`, which would be most of
 * the cost of recording a request. Copying every total also means each machine exports all five
 * classes, zeros included, so `rate()` on 5xx has a series before the first error. The histogram
 * has no bulk-add API, so it is observed directly.
 */
export class PromProxyMetrics {
  private readonly tracked = new Set<MachineSeries>();
  private readonly requests: Counter<'app' | 'machine' | 'class'>;
  private readonly duration: Histogram<'app' | 'machine'>;
  private readonly inflight: Gauge<'app' | 'machine'>;
  private readonly bytes: Counter<'app' | 'machine' | 'direction'>;

  constructor(readonly register: Registry) {
    const registers = [register];
    this.requests = new Counter({
      name: 'hangar_proxy_requests_total',
      help: 'Requests proxied to a machine, by response class (failed = no response)',
      labelNames: ['app', 'machine', 'class'],
      registers,
      collect: () => this.copyRequests(),
    });
    this.duration = new Histogram({
      name: 'hangar_proxy_request_duration_seconds',
      help: 'Time from forwarding a request to its response finishing; requests that got no response are not observed',
      labelNames: ['app', 'machine'],
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.inflight = new Gauge({
      name: 'hangar_proxy_inflight',
      help: 'Requests (and upgraded connections) a machine is serving right now',
      labelNames: ['app', 'machine'],
      registers,
    });
    this.bytes = new Counter({
      name: 'hangar_proxy_bytes_total',
      help: 'Body bytes proxied, in = from client to machine, out = from machine to client',
      labelNames: ['app', 'machine', 'direction'],
      registers,
      collect: () => this.copyBytes(),
    });
  }

  /** The series of a machine, tracked until `remove`. */
  series(app: string, machine: string): MachineSeries {
    const series = machineSeries(app, machine);
    this.tracked.add(series);
    return series;
  }

  /** `durationMs` < 0 means "do not observe" (the request got no response); otherwise it must be finite. */
  record(series: MachineSeries, classIndex: number, durationMs: number, bytesIn: number, bytesOut: number): void {
    series.requests[classIndex]!++;
    if (durationMs >= 0) this.duration.observe(series.machine, durationMs / 1000);
    // A negative, NaN or infinite byte count would poison the total (prom-client throws on export).
    if (bytesIn > 0 && bytesIn < Infinity) series.bytes[0]! += bytesIn;
    if (bytesOut > 0 && bytesOut < Infinity) series.bytes[1]! += bytesOut;
  }

  setInflight(series: MachineSeries, n: number): void {
    this.inflight.set(series.machine, n);
  }

  /** Drops every series carrying this machine's labels, so destroyed machines stop being exported. */
  remove(series: MachineSeries): void {
    this.tracked.delete(series);
    for (let c = 0; c < CLASS_COUNT; c++) this.requests.remove(series.byClass[c]!);
    this.duration.remove(series.machine);
    this.inflight.remove(series.machine);
    this.bytes.remove(series.bytesIn);
    this.bytes.remove(series.bytesOut);
  }

  private copyRequests(): void {
    this.requests.reset();
    for (const s of this.tracked) {
      for (let c = 0; c < CLASS_COUNT; c++) this.requests.inc(s.byClass[c]!, s.requests[c]!);
    }
  }

  private copyBytes(): void {
    this.bytes.reset();
    for (const s of this.tracked) {
      this.bytes.inc(s.bytesIn, s.bytes[0]!);
      this.bytes.inc(s.bytesOut, s.bytes[1]!);
    }
  }
}
