import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { test } from 'node:test';
import { appDir, loadLoop, proxyGet, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';

/** The daemon's proxy worker processes: its children running the worker entry, by pid. */
function workerPids(d: TestDaemon): number[] {
  const children = readFileSync(`/proc/${d.proc.pid}/task/${d.proc.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('worker-main.js');
    } catch {
      return false;
    }
  });
}

/** The pid of each process holding an established connection accepted on the proxy's port. */
function connectionOwners(d: TestDaemon): number[] {
  const port = new URL(d.proxyUrl).port;
  const r = spawnSync('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ss failed: ${r.stderr}`);
  return [...r.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}

/** The first `n` events of an SSE stream through the proxy. */
function sse(d: TestDaemon, host: string, n: number): Promise<string[]> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/sse', headers: { host } }, (res) => {
      const events: string[] = [];
      let buf = '';
      res.on('data', (c) => {
        buf += c;
        for (let i; (i = buf.indexOf('\n\n')) >= 0; ) {
          events.push(buf.slice(0, i));
          buf = buf.slice(i + 2);
        }
        if (events.length >= n) {
          req.destroy();
          resolve(events.slice(0, n));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('the proxy in two worker processes: a rolling deploy under load drops nothing, SSE streams, metrics add up over the workers, and a worker killed with -9 is replaced while the others serve', { timeout: 180_000 }, async (t) => {
  const d = await startDaemon(t, { args: ['--proxy-workers', '2'] });
  await waitUntil(() => workerPids(d).length === 2, 10_000, 'two proxy workers');
  const dir = appDir(t, WEB_TOML('wk'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  assert.equal((await d.cliAsync(['scale', 'count', '2', '-a', 'wk'])).status, 0);
  assert.match((await proxyGet(d, 'wk.localhost')).text, /^v1 /);

  // A rolling deploy under load: every machine is drained through both workers before it stops.
  const load = loadLoop(d, 'wk.localhost', { workers: 6, maxMs: 90_000 });
  await waitUntil(() => (load.counts.get(200) ?? 0) > 50, 10_000, 'load');
  const rolled = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
  const res = await load.stop();
  assert.equal(rolled.status, 0, rolled.stdout + rolled.stderr);
  assert.equal(res.failed, 0, `failed requests during the deploy: ${JSON.stringify(res.counts)}`);
  assert.ok((res.bodies.v2 ?? 0) > 0, 'the new release answered');

  // Metrics come from both workers, each request counted once.
  const m = (await d.api('GET', '/v1/apps/wk/metrics?window=2m')).body as { requests: number };
  assert.ok(m.requests >= res.ok && m.requests <= res.ok + 20, `metrics count ${m.requests} requests for ${res.ok} served`);
  const prom = await (await fetch(`${d.url}/metrics`, { headers: { authorization: `Bearer ${d.token}` } })).text();
  const total = [...prom.matchAll(/^hangar_proxy_requests_total\{[^}]*app="wk"[^}]*\} (\d+)$/gm)].reduce((n, x) => n + Number(x[1]), 0);
  assert.ok(total >= res.ok, `Prometheus counts ${total} requests of app wk`);

  const events = await sse(d, 'wk.localhost', 2);
  assert.equal(events.length, 2);

  // One worker killed: the requests it held fail, the other worker keeps serving, and a new worker comes.
  const before = workerPids(d);
  const again = loadLoop(d, 'wk.localhost', { workers: 4, maxMs: 60_000 });
  await waitUntil(() => (again.counts.get(200) ?? 0) > 50, 10_000, 'load');
  process.kill(before[0]!, 'SIGKILL');
  await waitUntil(() => workerPids(d).length === 2 && !workerPids(d).includes(before[0]!), 15_000, 'a new worker');
  const served = again.counts.get(200) ?? 0;
  await waitUntil(() => (again.counts.get(200) ?? 0) > served + 100, 10_000, 'serving on');
  const after = await again.stop();
  assert.ok(after.failed <= 8, `only the requests the killed worker held may fail: ${JSON.stringify(after.counts)}`);
});

test('two workers: under load the connections spread over both, at low traffic they gather on one of them, and no request fails', { timeout: 120_000 }, async (t) => {
  // Lower thresholds than the defaults, so that the test's own clients count as load on a busy machine.
  const d = await startDaemon(t, { args: ['--proxy-workers', '2'], env: { HANGAR_PROXY_PACKING: 'homeBusy:0.3,busy:0.3,packBelow:0.2' } });
  await waitUntil(() => workerPids(d).length === 2, 10_000, 'two proxy workers');
  const dir = appDir(t, WEB_TOML('pk'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const workers = workerPids(d);
  const owners = () => connectionOwners(d).filter((pid) => workers.includes(pid));
  const holders = () => new Set(owners()).size;

  // Sixteen clients with a connection each and no pause. Opened at once, the connections may all be
  // accepted by one worker; once it is busy it closes some of them after their answer, and the
  // clients reopen them on the other.
  const load = loadLoop(d, 'pk.localhost', { workers: 16, ownConnection: true, maxMs: 90_000 });
  await waitUntil(() => holders() === 2, 30_000, 'connections on both workers');

  // The same clients, now sending a request every 200 ms each: far from busy. The worker that is not
  // the first closes each connection it answers, and the clients reopen them until they reach the first.
  load.pace(200);
  await waitUntil(() => holders() === 1 && owners().length === 16, 30_000, 'all sixteen connections on one worker');
  const res = await load.stop();
  assert.equal(res.failed, 0, `failed requests: ${JSON.stringify(res.counts)}`);
  assert.ok(res.ok > 100, `answered: ${res.ok}`);
});
