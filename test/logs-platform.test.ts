import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, proxyGet, startDaemon, waitUntil, type TestDaemon } from './helpers.js';

type Line = { timestamp: string; source: string; app: string; machine_id?: string; instance_id?: string; region?: string; level: string; message: string };
type M = { id: string; state: string; region: string };

const TOML = (app: string, failFile: string) => `app = "${app}"
primary_region = "ams"
kill_timeout = 3

[env]
MESSAGE = "v1"
HEALTH_FAIL_FILE = "${failFile}"

[deploy]
release_command = "sh -c 'echo migrating the database'"

[processes]
web = "node server.js"

[http_service]
internal_port = 8080
processes = ["web"]
auto_start_machines = false

[[http_service.checks]]
grace_period = "0s"
interval = "100ms"
timeout = "1s"
path = "/health"
`;

function logs(d: TestDaemon, app: string, ...args: string[]): Line[] {
  const r = d.cli(['logs', '--no-tail', '--json', '-n', '100000', '-a', app, ...args]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

/** A POST with a body through the proxy; resolves with the status. */
function post(d: TestDaemon, host: string, path: string): Promise<number> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'POST', headers: { host, 'content-type': 'text/plain' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('payload');
  });
}

const has = (lines: Line[], source: string, re: RegExp, machine?: string) => lines.some((l) => l.source === source && re.test(l.message) && (!machine || l.machine_id === machine));

function waitForLine(d: TestDaemon, app: string, source: string, re: RegExp, machine?: string): Promise<void> {
  return waitUntil(() => has(logs(d, app), source, re, machine), 15_000, `a ${source} line matching ${re}`);
}

test('a deploy, a failing check, a crash, stops and proxy errors show up in hangar logs, each line naming its source; filters; kept across a restart', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, '');
  const failFile = join(dir, 'fail-health');
  writeFileSync(join(dir, 'hangar.toml'), TOML('plat', failFile));
  const deploy = await d.cliAsync(['deploy', dir]);
  assert.equal(deploy.status, 0, deploy.stdout + deploy.stderr);
  const ms = (await d.api('GET', '/v1/apps/plat/machines')).body as M[];
  assert.equal(ms.length, 2);
  const [a, b] = ms as [M, M];

  let all = logs(d, 'plat');
  for (const m of ms) {
    assert.ok(has(all, 'runner', /^Machine created$/, m.id), `runner: created ${m.id}`);
    assert.ok(has(all, 'runner', /^Starting machine$/, m.id), `runner: starting ${m.id}`);
    assert.ok(has(all, 'runner', /^Machine started$/, m.id), `runner: started ${m.id}`);
    assert.ok(has(all, 'health', /^Health check \S+ is now passing$/, m.id), `health: passing ${m.id}`);
  }
  const release = all.find((l) => l.source === 'release_command' && /^Running release command: sh -c 'echo migrating the database'$/.test(l.message));
  assert.ok(release, 'release_command: started');
  assert.match(release.machine_id ?? '', /^release-[0-9a-f]{10}$/);
  assert.equal(release.region, 'ams');
  const releaseLines = all.filter((l) => l.machine_id === release.machine_id).map((l) => `${l.source}: ${l.message}`);
  assert.deepEqual(releaseLines, ["release_command: Running release command: sh -c 'echo migrating the database'", 'app: migrating the database', 'release_command: Release command exited with code 0'], 'the output sits between start and exit');
  assert.ok(has(all, 'deploy', /^v1 release_command: running release command: /), 'deploy: the release command phase');
  assert.ok(has(all, 'deploy', /^v1 create_machines: /), 'deploy: the create phase');
  assert.ok(has(all, 'deploy', /^v1 complete: /), 'deploy: done');
  assert.ok(all.filter((l) => l.source === 'deploy' && !l.machine_id).every((l) => l.region === undefined), 'app-wide deploy lines carry no region');
  assert.ok(has(all, 'app', /^echo listening on \d+$/, a.id));
  const times = all.map((l) => l.timestamp);
  assert.deepEqual(times, [...times].sort(), 'one timeline, oldest first');
  const ofA0 = all.filter((l) => l.machine_id === a.id);
  assert.ok(ofA0.findIndex((l) => l.message === 'Starting machine') < ofA0.findIndex((l) => /^echo listening/.test(l.message)), 'starting before its output');

  // A check that fails honestly: the app answers 500 on /health while the file exists.
  writeFileSync(failFile, '');
  await waitForLine(d, 'plat', 'health', /^Health check \S+ is now failing: HTTP 500: unhealthy$/, a.id);
  rmSync(failFile);
  await waitUntil(() => logs(d, 'plat').filter((l) => l.source === 'health' && l.machine_id === a.id && /now passing/.test(l.message)).length === 2, 15_000, 'passing again');
  // Before its first pass the check may have failed while the app was still booting: that is a change too.
  const healthOfA = logs(d, 'plat').filter((l) => l.source === 'health' && l.machine_id === a.id).map((l) => l.message.replace(/ \S+ is/, ' is'));
  assert.deepEqual(healthOfA.slice(healthOfA.indexOf('Health check is now passing')), ['Health check is now passing', 'Health check is now failing: HTTP 500: unhealthy', 'Health check is now passing'], 'one line per change, not one per probe');

  // A crash mid-request (a POST, so not retried elsewhere): the proxy answers 502 itself, the lifecycle schedules a restart.
  assert.equal(await post(d, 'plat.localhost', '/die'), 502);
  await waitForLine(d, 'plat', 'runner', /^Machine exited with code 3$/);
  const died = logs(d, 'plat').find((l) => l.source === 'runner' && /^Machine exited with code 3$/.test(l.message))!;
  await waitForLine(d, 'plat', 'runner', /^Restart scheduled: restarting in \d+ ms \(attempt 1\)$/, died.machine_id);
  assert.ok(has(logs(d, 'plat'), 'proxy', new RegExp(`^Machine ${died.machine_id} failed before answering: 502$`), died.machine_id), 'proxy: the machine failed the request');
  await waitUntil(async () => ((await d.api('GET', '/v1/apps/plat/machines')).body as M[]).every((m) => m.state === 'started'), 10_000, 'restarted');

  // Stops: b with its kill signal; a with a signal it ignores, so kill_timeout escalates to SIGKILL.
  assert.equal(d.cli(['machines', 'stop', b.id, '-a', 'plat']).status, 0);
  assert.equal(d.cli(['machines', 'stop', a.id, '-a', 'plat', '-s', 'SIGWINCH', '--timeout', '300ms']).status, 0);
  all = logs(d, 'plat');
  assert.ok(has(all, 'runner', /^Stopping machine$/, b.id));
  assert.ok(has(all, 'runner', /^Sent SIGINT to stop the machine$/, b.id));
  assert.ok(has(all, 'runner', /^Machine exited with code \d+; stopped$/, b.id), 'runner: exited with code');
  assert.ok(has(all, 'runner', /^Sent SIGWINCH to stop the machine$/, a.id));
  assert.ok(has(all, 'runner', /^Instance still running after 300 ms \(kill_timeout\): sent SIGKILL$/, a.id));

  // Nothing to route to: requests are held for the (short) hold window, then get a 503.
  assert.equal((await d.api('PATCH', '/v1/apps/plat/routing', { hold_timeout: '200ms' })).status, 200);
  const answers = await Promise.all(Array.from({ length: 5 }, () => proxyGet(d, 'plat.localhost')));
  assert.deepEqual(answers.map((r) => r.status), [503, 503, 503, 503, 503]);
  await waitForLine(d, 'plat', 'proxy', /^No healthy machine: the request was held 200 ms \(hold timeout\), then answered 503 \(4 more\)$/);
  all = logs(d, 'plat');
  const noHealthy = all.filter((l) => l.source === 'proxy' && /^No healthy machine/.test(l.message));
  assert.equal(noHealthy.length, 2, `one line and one summary for five requests: ${noHealthy.map((l) => l.message).join(' | ')}`);
  assert.ok(noHealthy.every((l) => l.machine_id === undefined && l.region === undefined && l.level === 'error'));

  // --machine: only lines about that machine (its output and platform lines), no app-wide ones.
  const ofA = logs(d, 'plat', '--machine', a.id);
  assert.ok(ofA.length > 0 && ofA.every((l) => l.machine_id === a.id), 'only lines about the machine');
  for (const s of ['app', 'runner', 'health']) assert.ok(ofA.some((l) => l.source === s), `--machine keeps ${s} lines`);
  // --region: a clone in another region is the only one seen there.
  const clone = JSON.parse(d.cli(['machines', 'clone', b.id, '--region', 'dfw', '-a', 'plat', '--json']).stdout) as M;
  await waitForLine(d, 'plat', 'runner', /^Machine started$/, clone.id);
  const dfw = logs(d, 'plat', '--region', 'dfw');
  assert.ok(dfw.length > 0 && dfw.every((l) => l.region === 'dfw' && l.machine_id === clone.id), 'only lines about machines in dfw');
  assert.ok(has(dfw, 'runner', /^Machine created$/, clone.id));
  const ams = logs(d, 'plat', '--region', 'ams');
  assert.ok(ams.every((l) => l.region === 'ams') && ams.some((l) => l.source === 'runner') && ams.some((l) => l.source === 'release_command'));
  const only = logs(d, 'plat', '--source', 'runner,health');
  assert.ok(only.length > 0 && only.every((l) => l.source === 'runner' || l.source === 'health'));
  const bad = d.cli(['logs', '--no-tail', '-a', 'plat', '--source', 'kernel']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /sources are: app, runner, health, release_command, machine_check, deploy, proxy/);

  // The plain output: Fly's `<source>[<machine>] <region> [<level>]`, the app's name for app-wide lines.
  const plain = d.cli(['logs', '--no-tail', '-n', '100000', '-a', 'plat']).stdout;
  const ts = String.raw`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ `;
  assert.match(plain, new RegExp(`${ts}runner\\[${a.id}\\] ams \\[info\\] Machine started$`, 'm'));
  assert.match(plain, new RegExp(`${ts}health\\[${a.id}\\] ams \\[warn\\] Health check \\S+ is now failing: HTTP 500: unhealthy$`, 'm'));
  assert.match(plain, new RegExp(`${ts}release_command\\[${release.machine_id}\\] ams \\[info\\] Release command exited with code 0$`, 'm'));
  assert.match(plain, new RegExp(`${ts}app\\[${release.machine_id}\\] ams \\[info\\] migrating the database$`, 'm'));
  assert.match(plain, new RegExp(`${ts}deploy\\[plat\\] \\[info\\] v1 complete: `, 'm'));
  assert.match(plain, new RegExp(`${ts}proxy\\[plat\\] \\[error\\] No healthy machine: `, 'm'));
  assert.match(plain, new RegExp(`${ts}app\\[${a.id}\\] ams \\[info\\] echo listening on \\d+$`, 'm'));

  // A restarted daemon still has every stored line.
  const before = logs(d, 'plat').filter((l) => l.source !== 'app');
  await d.stop();
  const d2 = await d.restart();
  const after = logs(d2, 'plat');
  const key = (l: Line) => JSON.stringify(l);
  const kept = new Set(after.map(key));
  assert.deepEqual(before.filter((l) => !kept.has(key(l))), [], 'no platform line was lost');
  assert.ok(after.length >= before.length);
});
