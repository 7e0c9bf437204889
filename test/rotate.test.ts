import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { appDir, inGroup, startDaemon, waitUntil, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; state: string; release_version: number | null; inflight: number; process_group: string };
const machine = async (d: TestDaemon, id: string) => (await d.api('GET', `/v1/apps/rot/machines/${id}`)).body as M;

function slow(d: TestDaemon, ms: number): Promise<number> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: `/slow?ms=${ms}`, headers: { host: 'rot.localhost', 'to-b': '1' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

test('rotate: stopped machines update without starting, idle ones switch, a busy one waits; a deadline forces the straggler', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('rot'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const all = (await d.api('GET', '/v1/apps/rot/machines')).body as M[];
  const [a, b] = inGroup(all, 'web');
  const [worker] = inGroup(all, 'worker');
  const c = JSON.parse(d.cli(['machines', 'clone', a!.id, '-a', 'rot', '--json']).stdout) as M;
  await d.api('POST', `/v1/apps/rot/machines/${a!.id}/stop`, {});
  // Keep B busy: its own set, reached by a header.
  await d.api('PATCH', '/v1/apps/rot/routing', { sets: [{ name: 'rest', machines: [c.id], weight: 1 }, { name: 'b', machines: [b!.id], weight: 0 }], pins: [{ set: 'b', header: { name: 'to-b', value: '1' } }] });
  const busy = slow(d, 4000);
  await waitUntil(async () => (await machine(d, b!.id)).inflight === 1, 5000, 'B busy');

  const r = await d.cliAsync(['deploy', dir, '--strategy', 'rotate', '--rotate-idle', '1s', '-e', 'MESSAGE=v2', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id;
  await waitUntil(async () => (await machine(d, a!.id)).release_version === 2 && (await machine(d, c.id)).release_version === 2 && (await machine(d, worker!.id)).release_version === 2, 10_000, 'A, C and the worker rotated');
  assert.equal((await machine(d, a!.id)).state, 'stopped', 'the stopped machine was updated without being started');
  assert.equal((await machine(d, b!.id)).release_version, 1, 'the busy machine is not touched');
  const st = (await d.cliAsync(['deployments', 'status', id])).stdout;
  assert.match(st, /rotate, running/);
  assert.match(st, /1 of 4 machine\(s\) still run an older release/);
  assert.match((await d.cliAsync(['status', '-a', 'rot'])).stderr, /1 of 4 machine\(s\) still run an older release than v2/);
  assert.equal(await busy, 200, "the busy machine's request finished");
  await waitUntil(async () => (await d.api('GET', `/v1/deployments/${id}`)).body.status === 'complete', 15_000, 'the rotation to complete');
  assert.equal((await machine(d, b!.id)).release_version, 2);

  const long = slow(d, 10_000);
  await waitUntil(async () => (await machine(d, b!.id)).inflight === 1, 5000, 'B busy again');
  const t0 = Date.now();
  const forced = await d.cliAsync(['deploy', dir, '--strategy', 'rotate', '--rotate-idle', '30s', '--rotate-deadline', '1s', '-e', 'MESSAGE=v3']);
  assert.equal(forced.status, 0, forced.stdout + forced.stderr);
  assert.match(forced.stdout, /deadline passed: draining busy machine/);
  assert.ok(Date.now() - t0 < 15_000, 'the deadline ended the wait');
  for (const m of [a!, b!, c, worker!]) assert.equal((await machine(d, m.id)).release_version, 3);
  await long;
});
