import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appDir, inGroup, proxyGet, startDaemon, waitUntil, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type D = { status: string; phase: string; paused: boolean; extra: { step?: number; weight?: number; green?: string[] } };
const dep = async (d: TestDaemon, id: string) => (await d.api('GET', `/v1/deployments/${id}`)).body as D;
const statusJson = (d: TestDaemon, id: string) => JSON.parse(d.cli(['deployments', 'status', id, '--json']).stdout) as D;
const events = async (d: TestDaemon, id: string) => JSON.stringify((await d.api('GET', `/v1/deployments/${id}/events`)).body);

const CANARY = '\n[deploy.canary]\ncount = 1\nsteps = [20, 60]\nstep_interval = "600ms"\nmax_error_rate = 0.5\nmin_requests = 1000\n';

test('a paused canary stays paused across a graceful daemon restart, resumes where it was, and completes', async (t) => {
  let d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('pz', CANARY));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'canary', '-e', 'MESSAGE=canary', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  await waitUntil(async () => (await dep(d, id)).extra.weight === 20, 20_000, 'step 1 at 20%');
  const p = await d.cliAsync(['deployments', 'pause', id]);
  assert.equal(p.status, 0, p.stderr);
  assert.equal(statusJson(d, id).paused, true, 'status --json says paused');
  // Where the pause caught it (a busy machine may have let step 1 end before the pause arrived).
  const at = await dep(d, id);
  assert.match(d.cli(['deployments', 'status', id]).stdout, /running, paused/);

  await d.stop();
  d = await d.restart();
  await waitUntil(async () => /stays paused until: hangar deployments resume/.test(await events(d, id)), 10_000, 'the restarted daemon to take the deploy back');
  // Three step intervals later nothing has moved: still running, paused, at step 1 with its split.
  const since = Date.now();
  await waitUntil(() => Date.now() - since > 1800, 5000, 'three step intervals');
  const held = await dep(d, id);
  assert.equal(held.status, 'running');
  assert.equal(held.paused, true);
  assert.equal(held.extra.step, at.extra.step, 'still at the step it was paused at');
  assert.equal(held.extra.weight, at.extra.weight);
  assert.match((await proxyGet(d, 'pz.localhost', { 'hangar-canary': '1' })).text, /^canary /, 'the canary kept serving after the restart');

  const resumed = await d.cliAsync(['deployments', 'resume', id]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.equal(statusJson(d, id).paused, false);
  const w = await d.cliAsync(['deployments', 'watch', id]);
  assert.equal(w.status, 0, w.stdout + w.stderr);
  assert.match(w.stdout, /release v2 deployed/);
  const done = await dep(d, id);
  assert.equal(done.status, 'complete');
  assert.equal(done.paused, false);
  const ms = (await d.api('GET', '/v1/apps/pz/machines')).body as Array<{ process_group: string; release_version: number }>;
  assert.equal(inGroup(ms, 'web').length, 2, 'canaries removed once the stable machines rolled');
  assert.ok(ms.every((m) => m.release_version === 2));
});

test('a staged bluegreen deploy survives a daemon restart: green kept, still awaiting promotion, then promoted', async (t) => {
  let d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('bgr'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const r = await d.cliAsync(['deploy', dir, '--strategy', 'bluegreen', '--no-cutover', '-e', 'MESSAGE=green', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  await waitUntil(async () => (await dep(d, id)).phase === 'awaiting_promotion', 20_000, 'green staged');
  const green = (await dep(d, id)).extra.green!.slice().sort();

  await d.stop();
  d = await d.restart();
  await waitUntil(async () => /restarted during this deploy; resuming/.test(await events(d, id)), 10_000, 'the deploy taken back');
  await waitUntil(async () => (await dep(d, id)).phase === 'awaiting_promotion', 10_000, 'awaiting promotion again');
  assert.deepEqual((await dep(d, id)).extra.green!.slice().sort(), green, 'the same green machines, none made again');
  await waitUntil(async () => (await proxyGet(d, 'bgr.localhost', { 'hangar-preview': '1' })).text.startsWith('green '), 10_000, 'the preview header reaches green');
  assert.match((await proxyGet(d, 'bgr.localhost')).text, /^v1 /, 'public traffic stays on blue');

  assert.equal((await d.cliAsync(['deployments', 'promote', id])).status, 0);
  const w = await d.cliAsync(['deployments', 'watch', id]);
  assert.equal(w.status, 0, w.stdout + w.stderr);
  assert.equal((await dep(d, id)).status, 'complete');
  assert.match((await proxyGet(d, 'bgr.localhost')).text, /^green /);
  const ms = (await d.api('GET', '/v1/apps/bgr/machines')).body as Array<{ id: string; process_group: string }>;
  assert.equal(ms.length, 3, 'blue is gone: two green web machines and a green worker');
  assert.ok(green.every((g) => ms.some((m) => m.id === g)));
});
