import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { appDir, inGroup, startDaemon, waitUntil, type TestDaemon } from './helpers.js';

// The proxy's behaviour is tested against the proxy as it runs by default: in worker processes.
process.env.HANGAR_PROXY_WORKERS ??= '2';

type M = { id: string; state: string; process_group: string };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

/** One request through the proxy; the status, the machine that answered, and how long it took. */
function hit(d: TestDaemon, host: string): Promise<{ status: number; machine: string; ms: number }> {
  const u = new URL(d.proxyUrl);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/', headers: { host }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, machine: String(res.headers['hangar-machine'] ?? ''), ms: Date.now() - t0 }));
    });
    req.on('error', reject);
    req.end();
  });
}

// No checks at all: routing must wait for the port, not send traffic the moment the process starts.
const TOML = (app: string) => `app = "${app}"
primary_region = "ams"
[processes]
web = "node server.js"
worker = "node worker.js"
[http_service]
internal_port = 8080
processes = ["web"]
`;

test('traffic reaches only the groups a service serves; a machine without checks takes traffic once its port accepts', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, TOML('groups'));
  const first = await d.cliAsync(['deploy', dir]);
  assert.equal(first.status, 0, first.stdout + first.stderr);
  const ms = await machines(d, 'groups');
  const web = new Set(inGroup(ms, 'web').map((m) => m.id));
  const [worker] = inGroup(ms, 'worker');
  assert.equal(web.size, 2);
  assert.ok(worker && worker.state === 'started');

  const seen = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const r = await hit(d, 'groups.localhost');
    assert.equal(r.status, 200, `request ${i} answered ${r.status}`);
    seen.set(r.machine, (seen.get(r.machine) ?? 0) + 1);
  }
  assert.ok([...seen.keys()].every((id) => web.has(id)), `only web machines answered: ${JSON.stringify([...seen])}`);
  assert.equal(seen.size, 2, 'both web machines took traffic');

  // A slow-booting version with no checks: every web machine is replaced at once, so requests arriving
  // while the new processes boot must hold until a port accepts, not be refused.
  const slow = d.cliAsync(['deploy', dir, '--strategy', 'immediate', '-e', 'LISTEN_DELAY_MS=800', '-e', 'MESSAGE=slow']);
  const results: Array<{ status: number; machine: string }> = [];
  const until = Date.now() + 15_000;
  let done = false;
  void slow.then(() => (done = true));
  while (!done && Date.now() < until) results.push(await hit(d, 'groups.localhost'));
  const deployed = await slow;
  assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);
  const failed = results.filter((r) => r.status !== 200);
  assert.equal(failed.length, 0, `${failed.length} of ${results.length} requests failed during the immediate deploy: ${JSON.stringify(failed.slice(0, 5))}`);
  assert.ok(results.length > 5, `enough requests during the deploy: ${results.length}`);
  assert.ok(results.every((r) => r.machine !== worker.id), 'the worker never answered');
});

test('autostart with every web machine stopped: the request holds while a slow-booting web machine starts (the worker never takes it)', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, TOML('boot').replace('processes = ["web"]', 'processes = ["web"]\nauto_start_machines = true'));
  assert.equal((await d.cliAsync(['deploy', dir, '-e', 'LISTEN_DELAY_MS=700'])).status, 0);
  const web = inGroup(await machines(d, 'boot'), 'web');
  for (const m of web) assert.equal((await d.api('POST', `/v1/apps/boot/machines/${m.id}/stop`, {})).status, 200);
  await waitUntil(async () => inGroup(await machines(d, 'boot'), 'web').every((m) => m.state === 'stopped'), 10_000, 'web machines stopped');
  assert.deepEqual(inGroup(await machines(d, 'boot'), 'worker').map((m) => m.state), ['started']);

  const r = await hit(d, 'boot.localhost');
  assert.equal(r.status, 200, 'the request held while a web machine was started and booted, instead of going to the worker');
  assert.ok(web.some((m) => m.id === r.machine), `a web machine answered (${r.machine})`);
  assert.ok(r.ms >= 600, `it waited for the port to open (${r.ms} ms): not sent to a closed port`);
  const after = inGroup(await machines(d, 'boot'), 'web').map((m) => m.state).sort();
  assert.deepEqual(after, ['started', 'stopped'], 'one web machine was started for the request');
});
