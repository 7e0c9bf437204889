import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../core/errors.js';
import type { TrafficWindows, WindowScope, WindowStats } from '../core/window-stats.js';
import type { AppMachines } from './fleet.js';
import { historyIntervalFromEnv, MetricsHistory } from './history.js';
import { BoundedRing } from './ring.js';

const T0 = 1_700_000_000_000;

function stats(s: Partial<WindowStats> = {}): WindowStats {
  return { requests: 0, errors: 0, errorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, byClass: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, failed: 0 }, ...s };
}

/** A TrafficWindows that records each call and answers each scope with `answer(scope)`. */
function fakeWindows(answer: (scope: WindowScope) => Partial<WindowStats> = () => ({ requests: 1 })) {
  const calls: Array<{ scopes: WindowScope[]; windowMs: number }> = [];
  const windows: TrafficWindows = {
    windows: async (scopes, windowMs) => {
      calls.push({ scopes, windowMs });
      return scopes.map((s) => stats(answer(s)));
    },
  };
  return { calls, windows };
}

function recorder(o: { windows: TrafficWindows; fleet?: () => Promise<AppMachines[]>; intervalMs?: number }) {
  const clock = { now: T0 };
  const warnings: string[] = [];
  const fleet = o.fleet ?? (async () => [{ app: 'web', machines: [{ id: 'm1', release: 1 }] }]);
  const history = new MetricsHistory({ windows: o.windows, fleet, log: { warn: (_f, m) => warnings.push(m) }, intervalMs: o.intervalMs ?? 10_000, now: () => clock.now });
  return { history, clock, warnings };
}

const key = (s: WindowScope) => ('app' in s ? `app:${s.app}` : s.machines.join('+'));

test('one windows() call a round: each app, then one machine set per release; figures land under their release', async () => {
  const fleet: AppMachines[] = [
    { app: 'web', machines: [{ id: 'a', release: 2 }, { id: 'b', release: null }, { id: 'c', release: 1 }, { id: 'd', release: 2 }] },
    { app: 'idle', machines: [] },
  ];
  const figures: Record<string, Partial<WindowStats>> = {
    'app:web': { requests: 10, errors: 3, p50Ms: 4, p95Ms: 9 },
    'a+d': { requests: 6, errors: 3, p50Ms: 5, p95Ms: 9 },
    b: { requests: 1, p50Ms: 2, p95Ms: 2 },
    c: { requests: 3, p50Ms: 3, p95Ms: 4 },
    'app:idle': {},
  };
  const w = fakeWindows((s) => figures[key(s)]!);
  const { history } = recorder({ windows: w.windows, fleet: async () => fleet });
  assert.equal(await history.tick(), 'recorded');
  assert.equal(w.calls.length, 1);
  assert.deepEqual(w.calls[0]!.scopes.map(key), ['app:web', 'a+d', 'b', 'c', 'app:idle']);
  const t = T0;
  assert.deepEqual(history.history('web'), {
    intervalMs: 10_000,
    points: [{ t, requests: 10, errors5xx: 3, p50Ms: 4, p95Ms: 9 }],
    releases: [
      { version: 1, points: [{ t, requests: 3, errors5xx: 0, p50Ms: 3, p95Ms: 4 }] },
      { version: 2, points: [{ t, requests: 6, errors5xx: 3, p50Ms: 5, p95Ms: 9 }] },
      { version: null, points: [{ t, requests: 1, errors5xx: 0, p50Ms: 2, p95Ms: 2 }] },
    ],
  });
  assert.deepEqual(history.history('idle'), { intervalMs: 10_000, points: [{ t, requests: 0, errors5xx: 0, p50Ms: null, p95Ms: null }], releases: [] });
  assert.deepEqual(history.history('never-seen'), { intervalMs: 10_000, points: [], releases: [] });
});

test("each window starts at the previous point's end, whether the round ran early or late", async () => {
  const w = fakeWindows();
  const { history, clock } = recorder({ windows: w.windows });
  // The proxy's first second of a window (see ProxyMetrics.counts) must be the one after the previous point's.
  const firstSecond = (now: number, windowMs: number) => Math.ceil((now - windowMs) / 1000);
  const runs = [T0 + 3, T0 + 10_000 - 4, T0 + 20_000 + 250, T0 + 30_000 - 300, T0 + 40_000];
  for (const now of runs) {
    clock.now = now;
    assert.equal(await history.tick(), 'recorded');
  }
  const ts = history.history('web').points.map((p) => p.t);
  assert.deepEqual(ts, [T0, T0 + 10_000, T0 + 20_000, T0 + 30_000, T0 + 40_000]);
  for (let i = 0; i < runs.length; i++) assert.equal(firstSecond(runs[i]!, w.calls[i]!.windowMs), (ts[i]! - 10_000) / 1000, `round ${i}`);
  // A round in the same second as the last point has nothing new to count.
  clock.now = T0 + 40_100;
  assert.equal(await history.tick(), 'skipped');
  assert.equal(w.calls.length, runs.length);
});

test('a failed round leaves a gap, and the next point still covers one interval', async () => {
  let fail: Error | undefined;
  const w = fakeWindows();
  const windows: TrafficWindows = { windows: async (s, ms) => (fail ? Promise.reject(fail) : w.windows.windows(s, ms)) };
  const { history, clock, warnings } = recorder({ windows });
  await history.tick();
  clock.now += 10_000;
  fail = new Error('peer said no');
  assert.equal(await history.tick(), 'failed');
  assert.deepEqual(warnings, ['metrics history round failed; its interval stays a gap']);
  fail = undefined;
  clock.now += 10_000;
  assert.equal(await history.tick(), 'recorded');
  assert.deepEqual(history.history('web').points.map((p) => p.t), [T0, T0 + 20_000]);
  assert.equal(w.calls.at(-1)!.windowMs, 10_500, 'only the last interval, not the one that failed too');
});

test('a fleet that cannot be read is a failed round too', async () => {
  const w = fakeWindows();
  const { history, warnings } = recorder({ windows: w.windows, fleet: () => Promise.reject(new Error('database is locked')) });
  assert.equal(await history.tick(), 'failed');
  assert.equal(w.calls.length, 0);
  assert.equal(warnings.length, 1);
  assert.deepEqual(history.history('web').points, []);
});

test('a round still running when the next one is due makes that one skip, not overlap', async () => {
  let release!: () => void;
  const w = fakeWindows();
  const windows: TrafficWindows = {
    windows: async (s, ms) => {
      await new Promise<void>((r) => (release = r));
      return w.windows.windows(s, ms);
    },
  };
  const { history, clock, warnings } = recorder({ windows });
  const first = history.tick();
  await new Promise<void>((r) => setImmediate(r));
  clock.now += 10_000;
  assert.equal(await history.tick(), 'skipped');
  assert.equal(await history.tick(), 'skipped');
  assert.equal(warnings.length, 2);
  release();
  assert.equal(await first, 'recorded');
  assert.equal(w.calls.length, 1);
  assert.equal(history.history('web').points.length, 1);
});

test('the ring keeps an hour of points (3600000 / interval), the newest', async () => {
  const w = fakeWindows();
  const { history, clock } = recorder({ windows: w.windows, intervalMs: 60_000 });
  for (let i = 0; i < 65; i++) {
    // Rounds run a little early, so the hour before the last one still reaches T0 + 4 min's point: 61
    // points are younger than an hour, and the ring holds 60 of them.
    clock.now = T0 + i * 60_000 - 400;
    assert.equal(await history.tick(), 'recorded');
  }
  const ts = history.history('web').points.map((p) => p.t);
  assert.equal(ts.length, 60);
  assert.equal(ts[0], T0 + 5 * 60_000);
  assert.equal(ts.at(-1), T0 + 64 * 60_000);
  const ring = new BoundedRing<number>(4);
  assert.deepEqual(ring.toArray(), []);
  for (let i = 0; i < 10; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [6, 7, 8, 9]);
});

test('since keeps the points after it; releases and apps that are gone go', async () => {
  let fleet: AppMachines[] = [
    { app: 'web', machines: [{ id: 'a', release: 1 }, { id: 'b', release: 2 }] },
    { app: 'old', machines: [{ id: 'c', release: 1 }] },
  ];
  const w = fakeWindows();
  const { history, clock } = recorder({ windows: w.windows, fleet: async () => fleet });
  await history.tick();
  clock.now += 10_000;
  fleet = [{ app: 'web', machines: [{ id: 'b', release: 2 }] }];
  await history.tick();
  assert.deepEqual(history.history('old').points, [], 'a deleted app has no history');
  const all = history.history('web');
  assert.deepEqual(all.points.map((p) => p.t), [T0, T0 + 10_000]);
  assert.deepEqual(all.releases.map((r) => [r.version, r.points.map((p) => p.t)]), [[1, [T0]], [2, [T0, T0 + 10_000]]]);
  const newer = history.history('web', T0);
  assert.deepEqual(newer.points.map((p) => p.t), [T0 + 10_000]);
  assert.deepEqual(newer.releases.map((r) => r.version), [2], 'a release with no point after since is not listed');
  assert.deepEqual(history.history('web', T0 + 10_000).points, []);
  clock.now += 3_600_000;
  assert.deepEqual(history.history('web').points, [], 'points older than an hour are not answered');
});

test('the timer runs rounds on interval boundaries until stopped', async (t) => {
  const w = fakeWindows();
  const history = new MetricsHistory({ windows: w.windows, fleet: async () => [{ app: 'web', machines: [] }], log: { warn: () => {} }, intervalMs: 1000 });
  t.after(() => history.stop());
  history.start();
  const deadline = Date.now() + 5000;
  while (history.history('web').points.length < 2) {
    assert.ok(Date.now() < deadline, 'two rounds within 5 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const p of history.history('web').points) assert.equal(p.t % 1000, 0);
  history.stop();
  const calls = w.calls.length;
  assert.equal(await history.tick(), 'skipped', 'a stopped recorder runs no round');
  assert.equal(w.calls.length, calls);
});

test('HANGAR_METRICS_INTERVAL: whole seconds from 1s to 5m, refused otherwise', () => {
  assert.equal(historyIntervalFromEnv(undefined), undefined);
  assert.equal(historyIntervalFromEnv(''), undefined);
  assert.equal(historyIntervalFromEnv('2s'), 2000);
  assert.equal(historyIntervalFromEnv('1m'), 60_000);
  for (const bad of ['200ms', '1500ms', '10m', 'soon', '0']) {
    assert.throws(() => historyIntervalFromEnv(bad), (e: unknown) => e instanceof UserError && e.code === 'invalid_duration', bad);
  }
  assert.throws(() => new MetricsHistory({ windows: fakeWindows().windows, fleet: async () => [], log: { warn: () => {} }, intervalMs: 500 }), RangeError);
});
