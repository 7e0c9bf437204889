import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { appDir, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; release_version: number | null; started_at: string; instance_id: string; inflight: number };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

test('max_machine_age: an old, idle machine on an older release is recycled onto the newest one (no new release)', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_RECYCLE_INTERVAL: '300ms', HANGAR_RECYCLE_IDLE: '500ms' } });
  const dir = appDir(t, WEB_TOML('aged', '\n[deploy]\nmax_machine_age = "2s"\n'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const [a, b] = await machines(d, 'aged');
  assert.equal((await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '--only-machines', a!.id])).status, 0);
  const listed = await machines(d, 'aged');
  assert.ok(listed.every((m) => typeof m.started_at === 'string' && m.release_version !== null), 'machines list --json carries release and start time');
  assert.equal(listed.find((m) => m.id === b!.id)!.release_version, 1);
  await waitUntil(async () => (await machines(d, 'aged')).find((m) => m.id === b!.id)!.release_version === 2, 15_000, 'the stale machine recycled');
  assert.deepEqual(((await d.api('GET', '/v1/apps/aged/releases')).body as unknown[]).length, 2, 'recycling makes no release');
});

test('machines restart --idle restarts only machines with nothing in flight', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('idle'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const [a, b] = await machines(d, 'idle');
  await d.api('PATCH', '/v1/apps/idle/routing', { sets: [{ name: 'a', machines: [a!.id], weight: 1 }, { name: 'b', machines: [b!.id], weight: 0 }], pins: [{ set: 'b', header: { name: 'to-b', value: '1' } }] });
  const u = new URL(d.proxyUrl);
  const busy = new Promise<void>((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: '/slow?ms=3000', headers: { host: 'idle.localhost', 'to-b': '1' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
  await waitUntil(async () => (await machines(d, 'idle')).find((m) => m.id === b!.id)!.inflight === 1, 5000, 'B busy');
  const before = new Map((await machines(d, 'idle')).map((m) => [m.id, m.started_at]));
  const r = await d.cliAsync(['machines', 'restart', '--idle', '-a', 'idle']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`Restarted machine ${a!.id}`));
  assert.match(r.stdout, new RegExp(`Skipped machine ${b!.id} \\(1 request\\(s\\) in flight\\)`));
  const after = new Map((await machines(d, 'idle')).map((m) => [m.id, m.started_at]));
  assert.notEqual(after.get(a!.id), before.get(a!.id));
  assert.equal(after.get(b!.id), before.get(b!.id));
  await busy;
});
