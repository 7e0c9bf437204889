import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, FIXTURE_APP, get, killMachines, ROOT, startDaemon, waitUntil } from './helpers.js';

function sh(script: string, env: NodeJS.ProcessEnv) {
  return spawnSync('bash', ['-c', script], { env, encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
}

test('the CLI starts a daemon for HANGAR_HOME when none runs, and says so in one line', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'hangar-test-'));
  t.after(() => {
    const info = join(home, 'daemon.json');
    if (existsSync(info)) {
      try {
        process.kill(JSON.parse(readFileSync(info, 'utf8')).pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    killMachines(home);
    rmSync(home, { recursive: true, force: true });
  });
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home };
  delete env.HANGAR_API_URL;
  const r = spawnSync(process.execPath, [BIN, 'apps', 'list'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /started a hangar daemon for .* \(pid \d+/);
  assert.match(r.stdout, /No apps yet/);
  const again = spawnSync(process.execPath, [BIN, 'apps', 'list', '--json'], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(again.stderr, '', 'the running daemon is found, not started again');
  assert.deepEqual(JSON.parse(again.stdout), []);
  const pid = JSON.parse(readFileSync(join(home, 'daemon.json'), 'utf8')).pid;
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !existsSync(join(home, 'daemon.json')), 10_000, 'the daemon to stop');
});

test("Fly's workflows: machines run, list --json | jq by state and region, scale, status, logs", async (t) => {
  const d = await startDaemon(t);
  const run = d.cli(['machines', 'run', FIXTURE_APP, '--region', 'dfw']);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /Created app echo/);
  assert.match(run.stdout, /address http:\/\/127\.0\.0\.1:\d+/);
  const w = d.cli(['machines', 'run', FIXTURE_APP, '--process-group', 'worker', '--skip-start']);
  assert.equal(w.status, 0, w.stderr);
  const scaled = d.cli(['scale', 'count', '2', '--region', 'dfw', '--process-group', 'web', '-a', 'echo']);
  assert.equal(scaled.status, 0, scaled.stderr);
  assert.match(scaled.stdout, /now has 2 web machine\(s\) in dfw/);

  const stopped = sh(`node ${BIN} machines list -a echo --json | jq -r '.[] | select(.state == "stopped" or .state == "created") | .id'`, d.env);
  assert.equal(stopped.status, 0, stopped.stderr);
  const list = JSON.parse(d.cli(['machines', 'list', '-a', 'echo', '--json']).stdout) as Array<{ id: string; state: string; region: string; process_group: string }>;
  assert.deepEqual(stopped.stdout.trim().split('\n'), list.filter((m) => m.state === 'created').map((m) => m.id));
  const dfw = sh(`node ${BIN} machines list -a echo --json | jq -r '.[] | select(.region == "dfw") | .id' | paste -sd, -`, d.env);
  assert.equal(dfw.stdout.trim(), list.filter((m) => m.region === 'dfw').map((m) => m.id).join(','));
  assert.equal(list.filter((m) => m.process_group === 'web' && m.region === 'dfw').length, 2);

  const status = d.cli(['status', '-a', 'echo']);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /Hostname\s+echo\.localhost/);
  assert.match(status.stdout, /URL\s+http:\/\/echo\.localhost:\d+/);
  assert.match(status.stdout, /PROCESS\s+ID\s+VERSION\s+REGION\s+HOST\s+STATE\s+CHECKS\s+INFLIGHT\s+RUNTIME\s+IMAGE/);
  assert.match(status.stdout, new RegExp(`${list[0]!.id}\\s.*\\sprocess\\s+echo:`), 'each machine row names its runtime');

  const started = list.find((m) => m.state === 'started')!;
  const addr = JSON.parse(d.cli(['machines', 'status', started.id, '-a', 'echo', '--json']).stdout).address;
  await waitUntil(async () => (await get(`http://${addr}/`)).status === 200);
  await waitUntil(() => d.cli(['logs', '--no-tail', '-a', 'echo']).stdout.includes(`app[${started.id}] dfw [info] echo listening on`), 10_000, 'the log line');
  const json = d.cli(['logs', '--no-tail', '-a', 'echo', '--json', '--machine', started.id]).stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(json.length > 0 && json.every((l) => l.machine_id === started.id));
  assert.match(d.cli(['logs', '--no-tail', '-a', 'echo']).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ app\[[0-9a-f]{14}\] dfw \[info\] /m);

  const clone = d.cli(['machines', 'clone', started.id, '--region', 'ord', '-a', 'echo', '--json']);
  assert.equal(clone.status, 0, clone.stderr);
  const cloned = JSON.parse(clone.stdout);
  assert.equal(cloned.region, 'ord');
  assert.equal(cloned.state, 'started');
  assert.deepEqual(cloned.config.init, list.find((m) => m.id === started.id) && JSON.parse(d.cli(['machines', 'status', started.id, '-a', 'echo', '--json']).stdout).config.init);
  assert.match(d.cli(['machines', 'cordon', cloned.id.slice(0, 6), '-a', 'echo']).stdout, /Cordoned machine/);
  assert.equal(JSON.parse(d.cli(['machines', 'status', cloned.name, '-a', 'echo', '--json']).stdout).cordoned, true);
  const refuse = d.cli(['machines', 'destroy', cloned.id, '-a', 'echo']);
  assert.equal(refuse.status, 1);
  assert.match(refuse.stderr, /--force/);
  assert.match(d.cli(['machines', 'destroy', cloned.id, '--force', '-a', 'echo']).stdout, /Destroyed machine .*: destroyed/);
  assert.match(d.cli(['machines', 'stop', started.id, '-a', 'echo']).stdout, /Stopped machine .*: stopped/);
  assert.match(d.cli(['machines', 'start', started.id, '-a', 'echo']).stdout, /Started machine .*: started/);
});

test('bad input: one clear line and a hint, non-zero exit, no stack trace', async (t) => {
  const d = await startDaemon(t);
  const dir = mkdtempSync(join(tmpdir(), 'hangar-cfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hangar.toml'), 'app = "broken"\n[env]\nA = \n');
  const toml = d.cli(['machines', 'run', dir]);
  assert.equal(toml.status, 1);
  assert.match(toml.stderr, /line 3/);
  assert.match(toml.stderr, /column/);
  assert.doesNotMatch(toml.stderr, /\n\s+at /);

  mkdirSync(join(dir, 'typed'));
  writeFileSync(join(dir, 'typed', 'hangar.toml'), 'app = "typed"\nkill_timeout = "5 parsecs"\n[http_service]\ninternal_port = "eighty"\n');
  const typed = d.cli(['machines', 'run', join(dir, 'typed')]);
  assert.equal(typed.status, 1);
  assert.match(typed.stderr, /kill_timeout/);
  assert.match(typed.stderr, /http_service\.internal_port/);

  const group = d.cli(['machines', 'run', FIXTURE_APP, '--process-group', 'nope']);
  assert.equal(group.status, 1);
  assert.match(group.stderr, /nope/);
  assert.match(group.stderr, /"web", "worker"/);

  const missing = d.cli(['machines', 'run', './does-not-exist']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /directory \.\/does-not-exist does not exist/);
  assert.match(missing.stderr, /hint:/);

  assert.equal(d.cli(['apps', 'create', 'dup']).status, 0);
  const dup = d.cli(['apps', 'create', 'dup']);
  assert.equal(dup.status, 1);
  assert.match(dup.stderr, /^Error: app dup already exists\nhint: /);

  const unknown = d.cli(['machines', 'stop', 'ffffffffffffff', '-a', 'dup']);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /machine ffffffffffffff not found in app dup/);

  mkdirSync(join(dir, 'empty'));
  const noApp = d.cli(['machines', 'list'], { cwd: join(dir, 'empty') });
  assert.equal(noApp.status, 1);
  assert.match(noApp.stderr, /no app given/);
});
