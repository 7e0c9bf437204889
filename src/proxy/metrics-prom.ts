import { Counter, Gauge, type Metric, type Registry } from 'prom-client';
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
  /** Responses per DURATION_BUCKETS_S bucket (not cumulative; the last slot is over the largest), then their sum in seconds. */
  readonly timing: Float64Array;
  /** Requests in flight, as the proxy last set it. */
  inflight: number;
}

function machineSeries(app: string, machine: string): MachineSeries {
  return {
    machine: { app, machine },
    byClass: STATUS_CLASSES.map((c) => ({ app, machine, class: c })),
    bytesIn: { app, machine, direction: 'in' },
    bytesOut: { app, machine, direction: 'out' },
    requests: new Float64Array(CLASS_COUNT),
    bytes: new Float64Array(2),
    timing: new Float64Array(DURATION_BUCKETS_S.length + 2),
    inflight: 0,
  };
}

const SUM = DURATION_BUCKETS_S.length + 1;
const BUCKET_LABELS = [...DURATION_BUCKETS_S.map(String), '+Inf'];

/** A metric value as prom-client's registries (and their aggregation over workers) take it. */
interface MetricValue {
  value: number;
  labels: Record<string, string>;
  metricName?: string;
}

/**
 * The response-time histogram, exported from the per-machine bucket counts the hot path bumps. It is
 * a metric object of prom-client's own shape (name, help, type, aggregator, get), as prom-client's
 * cluster aggregation registers: a prom-client Histogram would hash its labels on every observation.
 */
class TimingHistogram {
  readonly name = 'hangar_proxy_request_duration_seconds';
  readonly help = 'Time from forwarding a request to its response finishing; requests that got no response are not observed';
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(private readonly tracked: Set<MachineSeries>) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const s of this.tracked) {
      const { app, machine } = s.machine;
      let count = 0;
      for (let b = 0; b < BUCKET_LABELS.length; b++) {
        count += s.timing[b]!;
        values.push({ value: count, labels: { le: BUCKET_LABELS[b]!, app, machine }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.timing[SUM]!, labels: { app, machine }, metricName: `${this.name}_sum` });
      values.push({ value: count, labels: { app, machine }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const s of this.tracked) s.timing.fill(0);
  }
}

/** The bucket of a response time in seconds: the first bound it is within, else the one past the last. */
function bucketOf(seconds: number): number {
  let b = 0;
  while (b < DURATION_BUCKETS_S.length && seconds > DURATION_BUCKETS_S[b]!) b++;
  return b;
}

/**
 * The proxy's Prometheus metrics, all registered on one registry.
 *
 * Every figure is kept as plain per-machine numbers and copied out when the registry collects (at
 * scrape time): prom-client validates and hashes labels on every `inc`, `set` and `observe`, which
 * would be most of the cost of recording a request. Copying every total also means each machine
 * exports all five classes, zeros included, so `rate()` on 5xx has a series before the first error.
 */
export class PromProxyMetrics {
  private readonly tracked = new Set<MachineSeries>();
  private readonly requests: Counter<'app' | 'machine' | 'class'>;
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
    // prom-client's types list only its own classes; registries take any object of their shape.
    register.registerMetric(new TimingHistogram(this.tracked) as unknown as Metric);
    this.inflight = new Gauge({
      name: 'hangar_proxy_inflight',
      help: 'Requests (and upgraded connections) a machine is serving right now',
      labelNames: ['app', 'machine'],
      registers,
      collect: () => this.copyInflight(),
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
    if (durationMs >= 0) {
      const seconds = durationMs / 1000;
      series.timing[bucketOf(seconds)]!++;
      series.timing[SUM]! += seconds;
    }
    // A negative, NaN or infinite byte count would poison the total (prom-client throws on export).
    if (bytesIn > 0 && bytesIn < Infinity) series.bytes[0]! += bytesIn;
    if (bytesOut > 0 && bytesOut < Infinity) series.bytes[1]! += bytesOut;
  }

  setInflight(series: MachineSeries, n: number): void {
    series.inflight = n;
  }

  /** Stops exporting a destroyed machine: every figure is copied out of the tracked series at collect time. */
  remove(series: MachineSeries): void {
    this.tracked.delete(series);
  }

  private copyRequests(): void {
    this.requests.reset();
    for (const s of this.tracked) {
      for (let c = 0; c < CLASS_COUNT; c++) this.requests.inc(s.byClass[c]!, s.requests[c]!);
    }
  }

  private copyInflight(): void {
    this.inflight.reset();
    for (const s of this.tracked) this.inflight.set(s.machine, s.inflight);
  }

  private copyBytes(): void {
    this.bytes.reset();
    for (const s of this.tracked) {
      this.bytes.inc(s.bytesIn, s.bytes[0]!);
      this.bytes.inc(s.bytesOut, s.bytes[1]!);
    }
  }
}
