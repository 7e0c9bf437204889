import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, inGroup, loadLoop, proxyGet, startDaemon, waitUntil, WEB_TOML, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; release_version: number | null; state: string; process_group: string };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

const get = proxyGet;

test('bluegreen under load: zero failed requests, blue gone afterwards (the app has a worker group)', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('bg'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const blue = (await machines(d, 'bg')).map((m) => m.id);
  const load = loadLoop(d, 'bg.localhost');
  await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 10_000, 'load');
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'bluegreen', '-e', 'MESSAGE=green']);
  await waitUntil(() => (load.bodies.get('green') ?? 0) > 10, 10_000, 'green serving');
  const res = await load.stop();
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(res.failed, 0, JSON.stringify(res.counts));
  const after = await machines(d, 'bg');
  assert.equal(inGroup(after, 'web').length, 2);
  assert.equal(inGroup(after, 'worker').length, 1);
  assert.ok(after.every((m) => !blue.includes(m.id) && m.release_version === 2), 'only green is left, on v2');
  assert.deepEqual((await d.api('GET', '/v1/apps/bg/routing')).body.sets, [], 'the traffic split is cleared');
});

test('bluegreen whose green fails its checks: blue keeps serving, no green left, exit non-zero', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('bgfail'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const blue = (await machines(d, 'bgfail')).map((m) => m.id).sort();
  const flags = mkdtempSync(join(tmpdir(), 'hangar-flag-'));
  t.after(() => rmSync(flags, { recursive: true, force: true }));
  writeFileSync(join(flags, 'f'), '');
  const load = loadLoop(d, 'bgfail.localhost');
  await waitUntil(() => (load.counts.get(200) ?? 0) > 10, 10_000, 'load');
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'bluegreen', '-e', `HEALTH_FAIL_FILE=${join(flags, 'f')}`, '--wait-timeout', '1500ms']);
  const res = await load.stop();
  assert.equal(r.status, 1);
  assert.match(r.stdout, /green did not become healthy/);
  assert.equal(res.failed, 0);
  assert.deepEqual((await machines(d, 'bgfail')).map((m) => m.id).sort(), blue);
  assert.equal((await d.api('GET', '/v1/apps/bgfail/releases')).body[0].status, 'failed');
  assert.equal((await get(d, 'bgfail.localhost')).status, 200);

  const noChecks = appDir(t, 'app = "bgfail"\n[processes]\nweb = "node server.js"\n[http_service]\ninternal_port = 8080\n');
  const nc = await d.cliAsync(['deploy', noChecks, '--strategy', 'bluegreen']);
  assert.equal(nc.status, 1);
  assert.match(nc.stderr, /bluegreen strategy needs at least one health check/);
  assert.doesNotMatch(nc.stdout, /Building image/, 'said before anything was built');
});

test('bluegreen staged: --no-cutover, preview header reaches green, then promote', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('stage'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'bluegreen', '--no-cutover', '-e', 'MESSAGE=green', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id;
  await waitUntil(async () => (await d.api('GET', `/v1/deployments/${id}`)).body.phase === 'awaiting_promotion', 20_000, 'green staged');
  for (let i = 0; i < 10; i++) {
    assert.match((await get(d, 'stage.localhost')).text, /^v1 /, 'public traffic stays on blue');
    assert.match((await get(d, 'stage.localhost', { 'hangar-preview': '1' })).text, /^green /, 'the preview header reaches green');
  }
  const p = await d.cliAsync(['deployments', 'promote', id]);
  assert.equal(p.status, 0, p.stderr);
  const w = await d.cliAsync(['deployments', 'watch', id]);
  assert.equal(w.status, 0, w.stdout);
  assert.match((await get(d, 'stage.localhost')).text, /^green /);
  assert.equal((await machines(d, 'stage')).length, 2);
  const bad = await d.cliAsync(['deployments', 'promote', id]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /is complete; there is nothing to promote/);
});
