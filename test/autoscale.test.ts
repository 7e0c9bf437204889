import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { appDir, startDaemon, waitUntil, type TestDaemon } from './helpers.js';

const TOML = (app: string, min: number) => `app = "${app}"
primary_region = "ams"
[processes]
web = "node server.js"
worker = "node worker.js"
[http_service]
internal_port = 8080
processes = ["web"]
auto_stop_machines = "stop"
auto_start_machines = true
min_machines_running = ${min}
idle_timeout = "1s"
[[http_service.checks]]
grace_period = "0s"
interval = "100ms"
path = "/health"
`;

type M = { state: string; process_group: string };
/** States of the web machines (the worker group has no service: autostop and autostart leave it alone). */
const states = async (d: TestDaemon, app: string, group = 'web') => ((await d.api('GET', `/v1/apps/${app}/machines`)).body as M[]).filter((m) => m.process_group === group).map((m) => m.state).sort();

function get(d: TestDaemon, host: string): Promise<number> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('autostop stops idle web machines (never the worker); a request with every web machine stopped succeeds via autostart', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_AUTOSTOP_INTERVAL: '200ms' } });
  const dir = appDir(t, TOML('sleepy', 0));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  await waitUntil(async () => (await states(d, 'sleepy')).every((s) => s === 'stopped'), 15_000, 'both machines stopped by autostop');
  const t0 = Date.now();
  assert.equal(await get(d, 'sleepy.localhost'), 200, 'the request was held while a machine started');
  assert.ok(Date.now() - t0 < 5000);
  assert.deepEqual(await states(d, 'sleepy'), ['started', 'stopped']);
  assert.deepEqual(await states(d, 'sleepy', 'worker'), ['started'], 'the worker kept running throughout');
});

test('autostop never goes below min_machines_running', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_AUTOSTOP_INTERVAL: '200ms' } });
  const dir = appDir(t, TOML('keepone', 1));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  await waitUntil(async () => (await states(d, 'keepone')).includes('stopped'), 15_000, 'one machine stopped');
  // Well past several idle windows and autostop passes, one machine is still running.
  const deadline = Date.now() + 2500;
  while (Date.now() < deadline) {
    assert.deepEqual(await states(d, 'keepone'), ['started', 'stopped']);
    await new Promise((r) => setTimeout(r, 250));
  }
});

test('min_machines_running larger than the app is a warning, not an error', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, TOML('many', 5));
  const r = await d.cliAsync(['deploy', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /warning: min_machines_running = 5 is more than the app's 2 machine\(s\)/);
});
