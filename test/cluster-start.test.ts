import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, BIN, proxyGet, startDaemon, WEB_TOML } from './helpers.js';
import { postgresAvailable, startPostgres } from './support/postgres.js';

const pg = postgresAvailable();
const skip = pg.ok ? false : pg.reason;

/** Runs `hangar server` with `args` until `done(output)` says so (or it exits); returns all output. */
function serverUntil(t: { after(fn: () => unknown): void }, args: string[], env: Record<string, string>, done: (out: string) => boolean): Promise<{ out: string; code: number | null }> {
  const home = mkdtempSync(join(tmpdir(), 'hangar-start-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const p = spawn(process.execPath, [BIN, 'server', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', ...args], { env: { ...process.env, HANGAR_HOME: home, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => p.kill('SIGKILL'));
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    const check = () => {
      if (done(out)) p.kill('SIGTERM');
    };
    p.stdout!.on('data', (d) => ((out += d), check()));
    p.stderr!.on('data', (d) => ((out += d), check()));
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

test('cluster nodes at start: a taken host name, a wrong password, an advertised address nobody can reach', { skip, timeout: 120_000 }, async (t) => {
  const server = await startPostgres(t);
  const db = await server.createDatabase();
  const first = await startDaemon(t, { env: { HANGAR_DATABASE_URL: server.url(db), HANGAR_REGION: 'fra' } });
  const hosts = (await first.api('GET', '/v1/hosts')).body as Array<{ name: string; region: string; state: string }>;
  assert.equal(hosts.length, 1);
  assert.equal(hosts[0]!.region, 'fra');

  // Same machine hostname, so the same default --host-name: the second node is refused, in one line.
  const twin = await serverUntil(t, [], { HANGAR_DATABASE_URL: server.url(db) }, () => false);
  assert.equal(twin.code, 1);
  assert.match(twin.out, new RegExp(`^Error: host name ${hosts[0]!.name} is already taken by host [0-9a-f]{12} at 127\\.0\\.0\\.1, whose node is running\\nhint: give this node another --host-name`, 'm'));

  const wrong = await serverUntil(t, ['--host-name', 'other'], { HANGAR_DATABASE_URL: server.url(db).replace(`:${encodeURIComponent(server.password)}@`, ':not-the-password@') }, () => false);
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /^Error: PostgreSQL refused the credentials in postgres:\/\/hangar:\*\*\*@127\.0\.0\.1:\d+\/\S+: password authentication failed for user "hangar"\nhint: check the user and password/m);
  assert.doesNotMatch(wrong.out, /not-the-password/);

  const far = await serverUntil(t, ['--host-name', 'far', '--advertise', '127.0.0.2'], { HANGAR_DATABASE_URL: server.url(db) }, (o) => /cannot reach this node/.test(o));
  assert.match(far.out, /warning: other nodes cannot reach this node at 127\.0\.0\.2:\d+ \(--advertise\)/);
});

test("a node without the cluster's secrets key refuses to seal secrets the others could not open, until the key is copied over", { skip, timeout: 120_000 }, async (t) => {
  const server = await startPostgres(t);
  const db = await server.createDatabase();
  const env = { HANGAR_DATABASE_URL: server.url(db) };
  const d1 = await startDaemon(t, { env: { ...env, HANGAR_HOST_NAME: 'k-1' } });
  const d2 = await startDaemon(t, { env: { ...env, HANGAR_HOST_NAME: 'k-2' } });
  assert.equal(d2.token, d1.token, 'one API token for the cluster');
  assert.equal((await d1.api('POST', '/v1/apps', { app_name: 'sk' })).status, 201);
  const refused = d2.cli(['secrets', 'set', 'A=1', '-a', 'sk', '--stage']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /secrets key file .* is missing, so this node cannot open the cluster's secrets/);
  assert.match(refused.stderr, /copy HANGAR_HOME\/secrets\.key from another node/);
  copyFileSync(join(d1.home, 'secrets.key'), join(d2.home, 'secrets.key'));
  chmodSync(join(d2.home, 'secrets.key'), 0o600);
  const ok = d2.cli(['secrets', 'set', 'A=1', '-a', 'sk', '--stage']);
  assert.equal(ok.status, 0, ok.stderr);
  const listed = d1.cli(['secrets', 'list', '-a', 'sk', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  assert.match(listed.stdout, /"name": "A"/);
});

test('node-to-node calls and relayed requests are refused without the cluster secret', { skip, timeout: 60_000 }, async (t) => {
  const server = await startPostgres(t);
  const db = await server.createDatabase();
  const d = await startDaemon(t, { env: { HANGAR_DATABASE_URL: server.url(db), HANGAR_HOST_NAME: 'sec-1' } });
  // The API token alone does not open the internal routes.
  const op = await d.api('POST', '/internal/v1/machine-op', { op: 'start', app: 'x', id: '00000000000000' });
  assert.equal(op.status, 401);
  assert.equal(op.body.code, 'cluster_token_invalid');
  const wrong = await d.api('POST', '/internal/v1/machine-op', { op: 'start', app: 'x', id: '00000000000000' }, { 'hangar-cluster-token': 'x'.repeat(43) });
  assert.equal(wrong.status, 401);
  const img = await d.api('GET', '/internal/v1/images/sha256:' + '0'.repeat(64));
  assert.equal(img.status, 401);
  // A request claiming to be relayed by another node, without the token, reaches no machine.
  const relayed = await proxyGet(d, 'any.localhost', { 'hangar-relay': '00000000000000', 'hangar-relay-token': 'guess' });
  assert.equal(relayed.status, 403);
  // The internal routes are not in the API document.
  const doc = (await d.api('GET', '/v1/openapi.json')).body as { paths: Record<string, unknown> };
  assert.ok(!Object.keys(doc.paths).some((p) => p.startsWith('/internal')));
});

test('a deploy to a region with no ready host fails with one clear line naming the regions that have hosts', { skip, timeout: 120_000 }, async (t) => {
  const server = await startPostgres(t);
  const db = await server.createDatabase();
  const env = { HANGAR_DATABASE_URL: server.url(db), HANGAR_REGION: 'fra' };
  const d1 = await startDaemon(t, { env: { ...env, HANGAR_HOST_NAME: 'r-1' } });
  await startDaemon(t, { env: { ...env, HANGAR_HOST_NAME: 'r-2' } });
  // WEB_TOML's primary_region is ams: no host there.
  const dir = appDir(t, WEB_TOML('nowhere'));
  const r = await d1.cliAsync(['deploy', dir]);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /cannot place a machine in region ams: no host; regions with ready hosts: fra/);
  const ms = (await d1.api('GET', '/v1/apps/nowhere/machines')).body as unknown[];
  assert.equal(ms.length, 0, 'nothing half-made');
});
