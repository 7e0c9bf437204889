import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { echoConfig, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

// Counted as the proxy runs by default: in a worker process, whose windows the daemon asks for.
process.env.HANGAR_PROXY_WORKERS ??= '1';

interface Point {
  t: number;
  requests: number;
  errors_5xx: number;
  p50_ms: number | null;
  p95_ms: number | null;
}
interface History {
  interval_ms: number;
  points: Point[];
  releases: Array<{ version: number | null; points: Point[] }>;
}

/** One request through the proxy to a given machine; returns its status. */
function toMachine(d: TestDaemon, machine: string, path = '/'): Promise<number> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host: 'echo.localhost', 'fly-force-instance-id': machine }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * The proxies count whole seconds, and a round on a second's boundary that runs a few ms late counts
 * that sliver in two points: requests sent mid-second are counted exactly once.
 */
const midSecond = () => waitUntil(() => Date.now() % 1000 >= 300 && Date.now() % 1000 < 600, 2000, 'the middle of a second');

const sum = (ps: Point[], k: 'requests' | 'errors_5xx') => ps.reduce((n, p) => n + p[k], 0);

test('history: an hour of points per app and per release, one per interval; since returns only newer points', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_METRICS_INTERVAL: '1s' } });
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const create = async (release: string) => (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { metadata: { fly_release_version: release } }) })).body as { id: string };
  const v1 = await create('1');
  const v2 = await create('2');
  await waitUntil(async () => (await toMachine(d, v1.id)) === 200 && (await toMachine(d, v2.id)) === 200, 15_000, 'both machines to answer through the proxy');

  // Points after the next whole second count none of the requests above.
  const mark = Math.ceil(Date.now() / 1000) * 1000;
  const history = async (since = mark) => {
    const r = await d.api('GET', `/v1/apps/echo/metrics/history?since=${since}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as History;
  };
  await waitUntil(() => Date.now() >= mark, 2000, 'the next second');
  const sent: Array<[string, string, number]> = [
    ...Array.from({ length: 5 }, () => [v1.id, '/', 200] as [string, string, number]),
    ...Array.from({ length: 3 }, () => [v2.id, '/', 200] as [string, string, number]),
    [v2.id, '/fail', 500],
    [v2.id, '/fail', 500],
  ];
  for (const [machine, path, status] of sent) {
    await midSecond();
    assert.equal(await toMachine(d, machine, path), status);
  }

  await waitUntil(async () => sum((await history()).points, 'requests') >= 10, 10_000, 'the 10 requests in the history');
  const h = await history();
  assert.equal(h.interval_ms, 1000);
  assert.equal(sum(h.points, 'requests'), 10, JSON.stringify(h.points));
  assert.equal(sum(h.points, 'errors_5xx'), 2);
  for (const p of h.points) {
    assert.ok(p.t > mark && p.t % 1000 === 0, `t ${p.t} on a second after ${mark}`);
    if (p.requests > 0) assert.ok(p.p50_ms !== null && p.p95_ms !== null && p.p50_ms <= p.p95_ms, JSON.stringify(p));
    else assert.deepEqual([p.p50_ms, p.p95_ms], [null, null]);
  }
  assert.deepEqual(h.releases.map((r) => r.version), [1, 2]);
  const [r1, r2] = h.releases;
  assert.deepEqual([sum(r1!.points, 'requests'), sum(r1!.points, 'errors_5xx')], [5, 0]);
  assert.deepEqual([sum(r2!.points, 'requests'), sum(r2!.points, 'errors_5xx')], [5, 2]);
  // The same instants for the app and its releases: a chart can stack them.
  assert.deepEqual(r1!.points.map((p) => p.t), h.points.map((p) => p.t));

  // A live chart asks for what came after its last point.
  const last = h.points.at(-1)!.t;
  assert.ok((await history(last)).points.every((p) => p.t > last));
  await midSecond();
  assert.equal(await toMachine(d, v2.id), 200);
  await waitUntil(async () => sum((await history(last)).points, 'requests') === 1, 10_000, 'the new request after since');
  const newer = await history(last);
  assert.ok(newer.points.every((p) => p.t > last));
  assert.deepEqual(newer.releases.map((r) => [r.version, sum(r.points, 'requests')]), [[1, 0], [2, 1]]);

  const all = (await d.api('GET', '/v1/apps/echo/metrics/history')).body as History;
  assert.ok(sum(all.points, 'requests') >= 11, 'without since: the whole hour, the warm-up requests too');
  assert.equal((await d.api('GET', '/v1/apps/nope/metrics/history')).status, 404);
  const bad = await d.api('GET', '/v1/apps/echo/metrics/history?since=soon');
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.details.map((x: { path: string }) => x.path), ['querystring.since']);
});
