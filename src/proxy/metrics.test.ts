import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { LATENCY_BOUNDS_MS, latencyBucket, quantileMs } from './metrics-histogram.js';
import { addCounts, emptyCounts, ProxyMetrics, statsOf, type RequestSample } from './metrics.js';

const T0 = Date.UTC(2030, 0, 1);
const MINUTE = 60_000;

/** A ProxyMetrics on a clock the test moves by hand. */
function fixture(retentionMs = 10 * MINUTE) {
  let now = T0;
  const metrics = new ProxyMetrics({ now: () => now, retentionMs });
  return {
    metrics,
    advance(ms: number) {
      now += ms;
    },
    now: () => now,
  };
}

function sample(over: Partial<RequestSample> = {}): RequestSample {
  return { app: 'web', machineId: 'm-1', status: 200, durationMs: 10, bytesIn: 100, bytesOut: 1000, ...over };
}

function recordMany(m: ProxyMetrics, n: number, over: Partial<RequestSample>): void {
  for (let i = 0; i < n; i++) m.record(sample(over));
}

function assertNear(actual: number | null, expected: number, tolerance: number, what: string): void {
  assert.ok(actual !== null, `${what}: expected ≈ ${expected}, got null`);
  const rel = Math.abs(actual - expected) / expected;
  assert.ok(rel <= tolerance, `${what}: ${actual} is ${(rel * 100).toFixed(1)}% from ${expected}`);
}

test('responses are counted by class; 5xx and connection failures are errors, 4xx are not', () => {
  const { metrics } = fixture();
  for (const status of [200, 204, 101, 301, 304, 404, 429, 500, 503, 0, 0]) metrics.record(sample({ status }));

  const s = metrics.window(['m-1'], MINUTE);
  assert.deepEqual(s.byClass, { '2xx': 3, '3xx': 2, '4xx': 2, '5xx': 2, failed: 2 });
  assert.equal(s.requests, 11);
  assert.equal(s.errors, 4);
  assert.equal(s.errorRate, 4 / 11);
});

test('an empty window has no errors, an error rate of 0 and no percentiles', () => {
  const { metrics } = fixture();
  assert.deepEqual(metrics.window(['nobody'], MINUTE), {
    requests: 0,
    errors: 0,
    errorRate: 0,
    p50Ms: null,
    p95Ms: null,
    p99Ms: null,
    byClass: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, failed: 0 },
  });
});

test('connection failures count as errors but not towards latency', () => {
  const { metrics } = fixture();
  recordMany(metrics, 10, { status: 200, durationMs: 100 });
  recordMany(metrics, 90, { status: 0, durationMs: 1 });

  const s = metrics.window(['m-1'], MINUTE);
  assert.equal(s.errorRate, 0.9);
  assertNear(s.p50Ms, 100, 0.05, 'p50 ignores the fast failures');
});

test('p95 of 95×10 ms + 5×500 ms is ≈ 10 ms; of 90×10 ms + 10×500 ms is ≈ 500 ms', () => {
  const a = fixture().metrics;
  recordMany(a, 95, { durationMs: 10 });
  recordMany(a, 5, { durationMs: 500 });
  const sa = a.window(['m-1'], MINUTE);
  assertNear(sa.p95Ms, 10, 0.05, 'p95 (95/5)');
  assertNear(sa.p50Ms, 10, 0.05, 'p50 (95/5)');
  assertNear(sa.p99Ms, 500, 0.05, 'p99 (95/5)');

  const b = fixture().metrics;
  recordMany(b, 90, { durationMs: 10 });
  recordMany(b, 10, { durationMs: 500 });
  assertNear(b.window(['m-1'], MINUTE).p95Ms, 500, 0.05, 'p95 (90/10)');
});

test('percentiles of a spread-out distribution stay within 5%', () => {
  const { metrics } = fixture();
  // 1..1000 ms, one sample each: the true p50/p95/p99 are 500, 950 and 990 ms.
  for (let ms = 1; ms <= 1000; ms++) metrics.record(sample({ durationMs: ms }));
  const s = metrics.window(['m-1'], MINUTE);
  assertNear(s.p50Ms, 500, 0.05, 'p50');
  assertNear(s.p95Ms, 950, 0.05, 'p95');
  assertNear(s.p99Ms, 990, 0.05, 'p99');
});

test('latency buckets: 5% apart from 0.1 ms to 60 s, with the edges handled', () => {
  assert.equal(latencyBucket(0), 0);
  assert.equal(latencyBucket(Number.NaN), 0);
  assert.equal(latencyBucket(-5), 0);
  const last = LATENCY_BOUNDS_MS.length - 1;
  assert.ok(LATENCY_BOUNDS_MS[last]! >= 60_000);
  assert.equal(latencyBucket(10 * 60_000), last + 1, 'beyond 60 s goes to the overflow bucket');
  for (const ms of [0.15, 1, 7.3, 10, 123.4, 5000, 59_999]) {
    const b = latencyBucket(ms);
    assert.ok(ms <= LATENCY_BOUNDS_MS[b]! && ms > LATENCY_BOUNDS_MS[b - 1]!, `${ms} ms in bucket ${b}`);
  }
  const counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  counts[last + 1] = 3;
  assert.equal(quantileMs(counts, 3, 0.95), LATENCY_BOUNDS_MS[last], 'overflow reports its lower edge');
});

test('the window excludes samples older than it and includes recent ones', () => {
  const { metrics, advance, now } = fixture();
  metrics.record(sample({ status: 500 }));
  advance(50_000);
  metrics.record(sample({ status: 200 }));
  metrics.record(sample({ status: 200, at: now() - 5_000 }));

  assert.equal(metrics.window(['m-1'], MINUTE).requests, 3);
  const last30s = metrics.window(['m-1'], 30_000);
  assert.equal(last30s.requests, 2);
  assert.equal(last30s.errors, 0);

  advance(10_001); // the 500 is now just over a minute old
  assert.equal(metrics.window(['m-1'], MINUTE).requests, 2);
  assert.equal(metrics.window(['m-1'], MINUTE).errorRate, 0);
});

test('window sums of several proxies add up to what one proxy seeing all the requests reports, through JSON', () => {
  const one = fixture();
  const two = fixture();
  const all = fixture();
  for (const [f, n, status, durationMs] of [[one, 30, 200, 5], [two, 10, 500, 400], [two, 5, 0, 0]] as const) {
    recordMany(f.metrics, n, { status, durationMs });
    recordMany(all.metrics, n, { status, durationMs });
  }
  const sum = emptyCounts();
  for (const f of [one, two]) addCounts(sum, JSON.parse(JSON.stringify(f.metrics.counts({ machines: ['m-1'] }, MINUTE))));
  assert.deepEqual(statsOf(sum), all.metrics.window(['m-1'], MINUTE));
  assert.deepEqual(statsOf(sum), all.metrics.appWindow('web', MINUTE));
  assert.equal(statsOf(sum).errors, 15);
  assert.throws(() => addCounts(sum, { classes: [1, 2], latency: [], latencyTotal: 0 }), /another shape/);
});

test('windows merge several machines, each counted once, and appWindow covers the app', () => {
  const { metrics } = fixture();
  recordMany(metrics, 8, { machineId: 'a', status: 200, durationMs: 10 });
  recordMany(metrics, 2, { machineId: 'b', status: 503, durationMs: 500 });
  recordMany(metrics, 5, { app: 'other', machineId: 'c', status: 500 });

  const both = metrics.window(['a', 'b', 'a'], MINUTE);
  assert.equal(both.requests, 10);
  assert.equal(both.errorRate, 0.2);
  assertNear(both.p95Ms, 500, 0.05, 'merged p95');
  assert.deepEqual(metrics.appWindow('web', MINUTE), both);
  assert.equal(metrics.appWindow('other', MINUTE).errors, 5);
  assert.equal(metrics.appWindow('nope', MINUTE).requests, 0);
});

test('the ring reuses its slots: data older than retention is gone and memory stays flat', () => {
  const retentionMs = 30_000;
  const { metrics, advance } = fixture(retentionMs);
  recordMany(metrics, 100, { status: 500 });
  advance(retentionMs + 1_000);
  assert.equal(metrics.window(['m-1'], retentionMs).requests, 0, 'old data out of the window');

  // Traffic every second for ten retentions: every slot is rewritten many times over.
  const sizes: number[] = [];
  for (let i = 0; i < 10 * 31; i++) {
    advance(1_000);
    metrics.record(sample({ status: 200 }));
    if (i % 31 === 30) sizes.push(metrics.memoryStats().histograms);
  }
  const stats = metrics.memoryStats();
  assert.equal(stats.slots, stats.slotsPerMachine, 'one ring, fixed size');
  assert.equal(stats.slotsPerMachine, 31);
  assert.ok(stats.histograms <= stats.slots);
  assert.deepEqual(new Set(sizes.slice(1)).size, 1, `histogram count constant: ${sizes.join(',')}`);
  const s = metrics.window(['m-1'], retentionMs);
  assert.equal(s.errors, 0, 'no 500 from the first burst survives reuse');
  assert.ok(s.requests >= 29 && s.requests <= 31, `about one per second retained, got ${s.requests}`);
});

test('a late sample older than its slot is dropped, not mixed into a newer second', () => {
  const { metrics, advance, now } = fixture(10_000);
  advance(20_000);
  metrics.record(sample({ status: 200 }));
  metrics.record(sample({ status: 500, at: now() - 11_000 })); // maps to the same slot, 11 s older
  assert.equal(metrics.window(['m-1'], 10_000).errors, 0);
});

test('bad windows and retentions are rejected, not silently adjusted', () => {
  assert.throws(() => new ProxyMetrics({ retentionMs: 0 }), RangeError);
  assert.throws(() => new ProxyMetrics({ retentionMs: Number.NaN }), RangeError);
  const { metrics } = fixture(MINUTE);
  assert.throws(() => metrics.window(['m-1'], 2 * MINUTE), /windowMs must be within \[1000, 60000\]/);
  assert.throws(() => metrics.window(['m-1'], 500), RangeError);
});

test('forget drops the machine from windows and from Prometheus', async () => {
  const { metrics } = fixture();
  recordMany(metrics, 3, { machineId: 'a' });
  recordMany(metrics, 2, { machineId: 'b' });
  metrics.setInflight('web', 'a', 4);

  metrics.forget('a');
  metrics.forget('never-seen');
  assert.equal(metrics.window(['a'], MINUTE).requests, 0);
  assert.equal(metrics.appWindow('web', MINUTE).requests, 2);
  const text = await metrics.prometheus();
  assert.doesNotMatch(text, /machine="a"/);
  assert.match(text, /hangar_proxy_requests_total\{app="web",machine="b",class="2xx"\} 2/);
  assert.match(text, /hangar_proxy_requests_total\{app="web",machine="b",class="5xx"\} 0/, 'zeros exported too');
  assert.equal(metrics.memoryStats().machines, 1);
});

test('prometheus() exposes every metric with its labels', async () => {
  const register = new Registry();
  const metrics = new ProxyMetrics({ register });
  metrics.record(sample({ status: 502, durationMs: 20, bytesIn: 10, bytesOut: 30 }));
  metrics.record(sample({ status: 0, durationMs: 3, bytesIn: 10, bytesOut: 0 }));
  metrics.setInflight('web', 'm-1', 2);

  const text = await metrics.prometheus();
  assert.equal(metrics.contentType, register.contentType);
  assert.match(text, /hangar_proxy_requests_total\{app="web",machine="m-1",class="5xx"\} 1/);
  assert.match(text, /hangar_proxy_requests_total\{app="web",machine="m-1",class="failed"\} 1/);
  assert.match(text, /hangar_proxy_request_duration_seconds_bucket\{le="0.025",app="web",machine="m-1"\} 1/);
  assert.match(text, /hangar_proxy_request_duration_seconds_count\{app="web",machine="m-1"\} 1/, 'failures not timed');
  assert.match(text, /hangar_proxy_inflight\{app="web",machine="m-1"\} 2/);
  assert.match(text, /hangar_proxy_bytes_total\{app="web",machine="m-1",direction="in"\} 20/);
  assert.match(text, /hangar_proxy_bytes_total\{app="web",machine="m-1",direction="out"\} 30/);
});

test('instances have separate registries and never touch the global one', async () => {
  const { register: globalRegister } = await import('prom-client');
  const a = fixture().metrics;
  const b = fixture().metrics;
  a.record(sample({ machineId: 'only-in-a' }));
  assert.doesNotMatch(await b.prometheus(), /only-in-a/);
  assert.doesNotMatch(await globalRegister.metrics(), /hangar_proxy/);
});

test('odd values do not throw on the hot path or at scrape time', async () => {
  const { metrics } = fixture();
  metrics.record(sample({ durationMs: Number.NaN, bytesIn: -1, bytesOut: Number.NaN, at: Number.NaN }));
  metrics.record(sample({ status: 799, durationMs: -3, bytesIn: Infinity }));
  metrics.record(sample({ status: 200, durationMs: Infinity }));
  const s = metrics.window(['m-1'], MINUTE);
  assert.equal(s.requests, 3);
  assert.equal(s.byClass['5xx'], 1);
  assert.ok(s.p99Ms !== null && s.p99Ms <= LATENCY_BOUNDS_MS[0]!, 'unusable durations count as 0 ms');
  await assert.doesNotReject(metrics.prometheus());
});

test('100k record() calls take well under a second', () => {
  const { metrics } = fixture();
  const machines = ['m-1', 'm-2', 'm-3', 'm-4'];
  const statuses = [200, 200, 200, 304, 404, 500, 0];
  const samples = Array.from({ length: 1000 }, (_, i) =>
    sample({ machineId: machines[i % 4]!, status: statuses[i % statuses.length]!, durationMs: 1 + (i % 300) }),
  );
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) metrics.record(samples[i % samples.length]!);
  const elapsed = performance.now() - started;
  console.log(`100k record() calls: ${elapsed.toFixed(1)} ms`);
  assert.ok(elapsed < 1000, `took ${elapsed.toFixed(1)} ms`);
  assert.equal(metrics.appWindow('web', MINUTE).requests, 100_000);
});
