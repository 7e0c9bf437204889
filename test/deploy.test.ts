import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, inGroup, loadLoop, startDaemon, waitUntil, WEB_TOML, WEB_WORKER_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; state: string; region: string; process_group: string; release_version: number | null; config: { image: string } };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];
const releases = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/releases`)).body as Array<{ version: number; status: string; stable: boolean; image: string }>;

test('deploy, then redeploy under load: rolling, immediate and rollback drop zero requests (the app has a worker group)', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('web1'));
  const first = await d.cliAsync(['deploy', dir]);
  assert.equal(first.status, 0, first.stdout + first.stderr);
  assert.match(first.stdout, /release v1 deployed.*http:\/\/web1\.localhost:\d+/);
  const ms = await machines(d, 'web1');
  assert.equal(inGroup(ms, 'web').length, 2, 'a first deploy makes 2 machines for a group with a service');
  assert.equal(inGroup(ms, 'worker').length, 1, 'and 1 for a group without one');
  assert.ok(ms.every((m) => m.release_version === 1 && m.state === 'started' && m.region === 'ams'));

  const load = loadLoop(d, 'web1.localhost');
  await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 10_000, 'load flowing');
  const rolling = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
  assert.equal(rolling.status, 0, rolling.stdout + rolling.stderr);
  const immediate = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v3', '--strategy', 'immediate']);
  assert.equal(immediate.status, 0, immediate.stdout + immediate.stderr);
  const back = await d.cliAsync(['releases', 'rollback', '-a', 'web1']);
  assert.equal(back.status, 0, back.stdout + back.stderr);
  const r = await load.stop();
  assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.counts)}`);
  assert.ok(r.ok > 100, `enough load: ${r.ok}`);
  assert.ok(r.bodies.v2 && r.bodies.v3, `served every version along the way: ${JSON.stringify(r.bodies)}`);
  const rel = await releases(d, 'web1');
  assert.deepEqual(rel.map((x) => [x.version, x.status]), [[4, 'complete'], [3, 'complete'], [2, 'complete'], [1, 'complete']]);
  assert.equal(rel[0]!.image, rel[1 + 1]!.image, 'the rollback went to v2, the newest stable release before v3');
  assert.ok((await machines(d, 'web1')).every((m) => m.release_version === 4));
  assert.match((await d.cliAsync(['releases', '-a', 'web1'])).stdout, /VERSION\s+STABLE\s+TYPE\s+STATUS\s+DESCRIPTION\s+USER\s+DATE\n\s*v4\s+true\s+release\s+complete\s+rollback to v2/);
});

test('a one-machine app drops zero requests during a rolling deploy (next to a worker)', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('solo'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const [, extra] = inGroup(await machines(d, 'solo'), 'web');
  await d.api('DELETE', `/v1/apps/solo/machines/${extra!.id}?force=true`);
  assert.equal(inGroup(await machines(d, 'solo'), 'web').length, 1);
  const load = loadLoop(d, 'solo.localhost');
  await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 10_000, 'load flowing');
  const r2 = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
  assert.equal(r2.status, 0, r2.stdout + r2.stderr);
  await waitUntil(() => (load.bodies.get('v2') ?? 0) > 20, 10_000, 'the new version serving');
  const r = await load.stop();
  assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.counts)}`);
});

test('a release command that fails leaves every machine on the old release; its output is shown', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('rc'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  writeFileSync(join(dir, 'hangar.toml'), WEB_TOML('rc', `\n[deploy]\nrelease_command = "sh -c 'echo Running migrations...; echo boom >&2; exit 1'"\n`));
  const r = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /release_command \| Running migrations\.\.\./);
  assert.match(r.stdout, /release command failed with exit code 1 - aborting deployment/);
  assert.ok((await machines(d, 'rc')).every((m) => m.release_version === 1));
  assert.equal((await releases(d, 'rc'))[0]!.status, 'failed');
  assert.match((await d.cliAsync(['logs', '--no-tail', '-n', '10000', '-a', 'rc'])).stdout, /app\[release-[0-9a-f]+\] \S+ \[info\] Running migrations\.\.\./);

  writeFileSync(join(dir, 'hangar.toml'), WEB_TOML('rc', `\n[deploy]\nrelease_command = "echo 'Running migrations...'"\n`));
  const ok = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v3']);
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /release_command \| Running migrations\.\.\./);

  writeFileSync(join(dir, 'hangar.toml'), WEB_TOML('rc', `\n[deploy]\nrelease_command = "sleep 30"\nrelease_command_timeout = "500ms"\n`));
  const slow = await d.cliAsync(['deploy', dir]);
  assert.equal(slow.status, 1);
  assert.match(slow.stdout, /release command timed out after 500 ms and was killed/);
});

test('a version that fails its health check: the deploy fails, rolls back, exits non-zero', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_WORKER_TOML('sick'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const flagDir = mkdtempSync(join(tmpdir(), 'hangar-flag-'));
  t.after(() => rmSync(flagDir, { recursive: true, force: true }));
  writeFileSync(join(flagDir, 'fail'), '');
  const load = loadLoop(d, 'sick.localhost');
  await waitUntil(() => (load.counts.get(200) ?? 0) > 10, 10_000, 'load flowing');
  const r = await d.cliAsync(['deploy', dir, '-e', `HEALTH_FAIL_FILE=${join(flagDir, 'fail')}`, '--wait-timeout', '2s']);
  const res = await load.stop();
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stdout, /did not pass its checks within 2000 ms/);
  assert.match(r.stdout, /rolled back/);
  assert.equal(res.failed, 0, `users saw no failure: ${JSON.stringify(res.counts)}`);
  assert.equal((await releases(d, 'sick'))[0]!.status, 'rolled_back');
  assert.ok((await machines(d, 'sick')).every((m) => m.release_version === 1), 'every machine is back on v1');

  const crash = await d.cliAsync(['deploy', dir, '-e', 'BEHAVIOR=crash', '--wait-timeout', '60s']);
  assert.equal(crash.status, 1);
  assert.match(crash.stdout, /exited \(code 1\) while starting/, 'a crash fails fast, not at the timeout');
});

test('one deploy per app: a second one fails at once naming the first', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('busy', `\n[deploy]\nrelease_command = "sleep 3"\n`));
  await d.cliAsync(['deploy', dir, '--skip-release-command']);
  const first = await d.cliAsync(['deploy', dir, '--detach']);
  assert.equal(first.status, 0, first.stderr);
  const second = await d.cliAsync(['deploy', dir]);
  assert.equal(second.status, 1);
  assert.match(second.stderr, /is being deployed by deployment \w+ \(release v2, started /);
  assert.match(second.stderr, /hint: wait for it: hangar deployments watch/);
  const watch = await d.cliAsync(['deployments', 'watch', '-a', 'busy']);
  assert.equal(watch.status, 0, watch.stdout);
  assert.match(watch.stdout, /release v2 deployed/);
  // A user's own lease on a machine blocks a deploy too, naming the holder.
  const m = (await machines(d, 'busy'))[0]!;
  await d.api('POST', `/v1/apps/busy/machines/${m.id}/lease`, { ttl: 60 }, { 'hangar-lease-owner': 'carol' });
  const leased = await d.cliAsync(['deploy', dir, '--skip-release-command']);
  assert.equal(leased.status, 1);
  assert.match(leased.stderr, /lease currently held by carol/);
});

test('bad deploy input: one clear line each, nothing deployed', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('bad'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const cases: Array<[string[], RegExp]> = [
    [['--strategy', 'sideways'], /strategy/],
    [['--max-unavailable', '0'], /max_unavailable must be > 0/],
    [['--only-machines', 'ffffffffffffff'], /--only-machines names machines this app does not have: ffffffffffffff/],
    [['--regions', 'nowhere'], /match no machine/],
    [['--image', 'bad:deployment-nope'], /image bad:deployment-nope is not in this daemon's image store/],
  ];
  for (const [args, re] of cases) {
    const r = await d.cliAsync(['deploy', dir, ...args]);
    assert.equal(r.status, 1, `${args.join(' ')} should fail`);
    assert.match(r.stderr, re);
  }
  const noCmd = appDir(t, 'app = "bad"\n[processes]\nweb = ""\n');
  const r = await d.cliAsync(['deploy', noCmd]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /processes\.web/);
  const buildFails = appDir(t, WEB_TOML('bad', '\n[build]\ncommand = "echo compiling; exit 7"\n'));
  const b = await d.cliAsync(['deploy', buildFails]);
  assert.equal(b.status, 1);
  assert.match(b.stdout, /build \| compiling/);
  assert.match(b.stderr, /build command failed with exit code 7/);
  assert.deepEqual((await releases(d, 'bad')).map((x) => x.version), [1], 'no release was made by any of these');
});

test('--no-auto-rollback keeps the failure; deployments retry finishes it; status warns about mixed releases', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('retry'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const flagDir = mkdtempSync(join(tmpdir(), 'hangar-flag-'));
  t.after(() => rmSync(flagDir, { recursive: true, force: true }));
  const flag = join(flagDir, 'fail');
  writeFileSync(flag, '');
  const r = await d.cliAsync(['deploy', dir, '-e', `HEALTH_FAIL_FILE=${flag}`, '--no-auto-rollback', '--wait-timeout', '1s', '--json']);
  assert.equal(r.status, 1);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.at(-1).event.type, 'done');
  assert.equal(lines.at(-1).event.status, 'failed');
  const id = (await d.api('GET', '/v1/apps/retry/deployments')).body[0].id;
  const st = await d.cliAsync(['deployments', 'status', id]);
  assert.match(st.stdout, /failed\s+.*did not pass its checks/);
  rmSync(flag);
  const again = await d.cliAsync(['deployments', 'retry', id]);
  assert.equal(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /release v2 deployed/);
  assert.ok((await machines(d, 'retry')).every((m) => m.release_version === 2));

  const one = (await machines(d, 'retry'))[0]!;
  assert.equal((await d.cliAsync(['deploy', dir, '--only-machines', one.id])).status, 0);
  const status = await d.cliAsync(['status', '-a', 'retry']);
  assert.match(status.stderr, /runs 2 releases at once: (v3, v2|v2, v3); 1 of 2 machine\(s\) still run an older release than v3/);
});
