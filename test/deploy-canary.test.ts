import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appDir, inGroup, loadLoop, proxyGet, startDaemon, waitUntil, WEB_TOML, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; release_version: number | null; process_group: string };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

const get = proxyGet;

const CANARY = (steps: string, interval: string, extra = '') => `\n[deploy.canary]\ncount = 1\nsteps = ${steps}\nstep_interval = "${interval}"\nmax_error_rate = 0.05\nmin_requests = 20\n${extra}`;

test('a canary returning 500 for 30% of requests (next to a worker group) is aborted automatically; users saw about step weight × requests failures', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('cbad', CANARY('[10, 50]', '20s')));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const stable = (await machines(d, 'cbad')).map((m) => m.id).sort();
  const load = loadLoop(d, 'cbad.localhost', { workers: 4 });
  await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 10_000, 'load');
  const before = load.counts.get(200) ?? 0;
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'canary', '-e', 'FAIL_RATE=0.3', '-e', 'MESSAGE=canary']);
  const res = await load.stop();
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /canary abort at step 1 \(10%\): error rate \d+\.\d% > max_error_rate 5\.0%/);
  assert.match(r.stdout, /release v2 rolled back/);
  const during = res.ok + res.failed - before;
  const allowed = 0.1 * during * 0.3 * 3 + 10; // the canary's share of the step's requests, times its failure rate, with margin
  assert.ok(res.failed <= allowed, `users saw ${res.failed} failures of ${during} requests during the deploy (allowed ${allowed.toFixed(0)})`);
  assert.deepEqual((await machines(d, 'cbad')).map((m) => m.id).sort(), stable, 'canaries destroyed, stable untouched');
  assert.equal((await d.api('GET', '/v1/apps/cbad/releases')).body[0].status, 'rolled_back');
  const dep = (await d.api('GET', '/v1/apps/cbad/deployments')).body[0];
  assert.equal(dep.extra.decision.verdict, 'abort');
  const st = await d.cliAsync(['deployments', 'status', dep.id]);
  assert.match(st.stdout, /Last decision \(step 1, 10%\): abort/);
  assert.match(st.stdout, /canary: \d+ requests, error rate/);
});

test('a good canary (next to a worker group) walks every step, the header reaches it at 0%, and it is promoted', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('cgood', CANARY('["pause", 20, 60]', '1500ms')));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const load = loadLoop(d, 'cgood.localhost');
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'canary', '-e', 'MESSAGE=canary', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id;
  await waitUntil(async () => /paused/.test(JSON.stringify((await d.api('GET', `/v1/deployments/${id}/events`)).body)), 20_000, 'the pause step');
  for (let i = 0; i < 10; i++) {
    assert.match((await get(d, 'cgood.localhost', { 'hangar-canary': '1' })).text, /^canary /, 'the header reaches the canary at 0%');
    assert.match((await get(d, 'cgood.localhost', { cookie: 'hangar-canary=1' })).text, /^canary /, 'so does the cookie');
    assert.match((await get(d, 'cgood.localhost')).text, /^v1 /, 'everyone else stays on stable');
  }
  assert.equal((await d.cliAsync(['deployments', 'promote', id])).status, 0);
  const w = await d.cliAsync(['deployments', 'watch', id]);
  const res = await load.stop();
  assert.equal(w.status, 0, w.stdout);
  assert.match(w.stdout, /canary continue at step 2 \(20%\)/);
  assert.match(w.stdout, /canary continue at step 3 \(60%\)/);
  assert.match(w.stdout, /release v2 deployed/);
  assert.equal(res.failed, 0, JSON.stringify(res.counts));
  const ms = await machines(d, 'cgood');
  assert.equal(inGroup(ms, 'web').length, 2, 'canaries are removed once the stable machines rolled');
  assert.equal(inGroup(ms, 'worker').length, 1, 'the worker canary too');
  assert.ok(ms.every((m) => m.release_version === 2));
});

test('abort mid-step puts all traffic back on stable within a second', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('cabort', CANARY('[50]', '60s')));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'canary', '-e', 'MESSAGE=canary', '--detach', '--json']);
  const id = JSON.parse(r.stdout).id;
  await waitUntil(async () => (await d.api('GET', `/v1/deployments/${id}`)).body.extra.weight === 50, 20_000, 'step 1 at 50%');
  await waitUntil(async () => (await get(d, 'cabort.localhost')).text.startsWith('canary'), 10_000, 'the canary taking traffic');
  const t0 = Date.now();
  assert.equal((await d.cliAsync(['deployments', 'abort', id])).status, 0);
  let firstStable = 0;
  await waitUntil(async () => {
    for (let i = 0; i < 20; i++) if (!(await get(d, 'cabort.localhost')).text.startsWith('v1')) return false;
    firstStable ||= Date.now();
    return true;
  }, 5000, 'all traffic on stable');
  assert.ok(firstStable - t0 < 1500, `stable-only after ${firstStable - t0} ms (includes the CLI's own start-up)`);
  await waitUntil(async () => (await d.api('GET', `/v1/deployments/${id}`)).body.status !== 'running', 10_000, 'the deploy to end');
  assert.equal((await d.api('GET', `/v1/deployments/${id}`)).body.status, 'rolled_back');
});

test('bad canary config: steps not increasing, out of range, thresholds, count larger than the app', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('cconf', CANARY('[50, 20, 120]', '1s', 'max_latency_ratio = 0.5\n')));
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'canary']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /deploy\.canary\.steps\[1\]: steps must increase/);
  assert.match(r.stderr, /deploy\.canary\.steps\[2\]/);
  assert.match(r.stderr, /deploy\.canary\.max_latency_ratio/);
  const ok = appDir(t, WEB_TOML('cconf'));
  assert.equal((await d.cliAsync(['deploy', ok])).status, 0);
  const big = appDir(t, WEB_TOML('cconf', CANARY('[50]', '1s').replace('count = 1', 'count = 5')));
  const b = await d.cliAsync(['deploy', big, '--strategy', 'canary']);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /count = 5 is larger than process group web \(2 machine\(s\)\)/);
  const notWaiting = await d.cliAsync(['deployments', 'promote', (await d.api('GET', '/v1/apps/cconf/deployments')).body[0].id]);
  assert.equal(notWaiting.status, 1);
  assert.match(notWaiting.stderr, /nothing to promote/);
});
