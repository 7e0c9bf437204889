import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appDir, inGroup, startDaemon, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; process_group: string; release_version: number | null };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

// Run in a temporary machine from the new image against each freshly updated web machine: it asks the
// machine under test for its environment, fails when BAD_VERSION is set there, hangs when HANG_CHECK is.
const CHECK_JS = `
const { FLY_TEST_MACHINE_IP: ip, FLY_TEST_MACHINE_PORT: port, FLY_TEST_MACHINE_ID: id } = process.env;
const res = await fetch(\`http://\${ip}:\${port}/env\`);
const env = (await res.json()).env;
console.log(\`checking \${id}: FLY_MACHINE_ID=\${env.FLY_MACHINE_ID}\`);
if (env.HANG_CHECK) setInterval(() => {}, 1000);
else if (env.BAD_VERSION) { console.log('smoke test failed: bad version'); process.exit(4); }
else console.log('smoke test passed');
`;

const TOML = (app: string) =>
  WEB_WORKER_TOML(app, `
[[http_service.machine_checks]]
command = ["node", "check.mjs"]
kill_timeout = "1s"
`);

test('machine_checks run against each updated machine: a passing check lets the rollout go on, a failing one fails the update and rolls back', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, TOML('mc'), { 'check.mjs': CHECK_JS });
  const first = await d.cliAsync(['deploy', dir]);
  assert.equal(first.status, 0, first.stdout + first.stderr);
  const web = inGroup(await machines(d, 'mc'), 'web');
  for (const m of web) assert.match(first.stdout, new RegExp(`checking ${m.id}: FLY_MACHINE_ID=${m.id}`), 'the check ran against every new web machine, and reached it');
  assert.equal((first.stdout.match(/smoke test passed/g) ?? []).length, 2, 'once per web machine, never for the worker');

  const good = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.equal((good.stdout.match(/passed 1 machine check\(s\)/g) ?? []).length, 2);

  const bad = await d.cliAsync(['deploy', dir, '-e', 'BAD_VERSION=1']);
  assert.equal(bad.status, 1, bad.stdout);
  assert.match(bad.stdout, /smoke test failed: bad version/, "the check's output is shown");
  assert.match(bad.stdout, /machine check "node check\.mjs" against [0-9a-f]{14} failed with exit code 4/);
  assert.match(bad.stdout, /rolled back/);
  const rel = (await d.api('GET', '/v1/apps/mc/releases')).body as Array<{ version: number; status: string }>;
  assert.equal(rel[0]!.status, 'rolled_back');
  assert.ok((await machines(d, 'mc')).every((m) => m.release_version === 2), 'every machine is back on v2');

  const logs = d.cli(['logs', '-a', 'mc', '--no-tail', '--source', 'machine_check', '-n', '1000']);
  assert.equal(logs.status, 0, logs.stderr);
  assert.match(logs.stdout, /machine_check\[check-[0-9a-f]+\] .*Running machine check: node check\.mjs/);
  assert.match(logs.stdout, /Machine check exited with code 4/);
});

test('a machine check that hangs is stopped at the wait timeout; the update fails and rolls back', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, TOML('mch'), { 'check.mjs': CHECK_JS });
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const t0 = Date.now();
  const r = await d.cliAsync(['deploy', dir, '-e', 'HANG_CHECK=1', '--wait-timeout', '3s']);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /machine check "node check\.mjs" against [0-9a-f]{14} did not finish within 3000 ms and was stopped/);
  assert.match(r.stdout, /rolled back/);
  assert.ok(Date.now() - t0 < 30_000, 'the hang did not hold the deploy past its timeout');
  assert.ok((await machines(d, 'mch')).every((m) => m.release_version === 1));
  const stray = (await d.api('GET', '/v1/apps/mch/machines')).body as unknown[];
  assert.equal(stray.length, 3, 'no check machine is left behind as a machine of the app');
});
