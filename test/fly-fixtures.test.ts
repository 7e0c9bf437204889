import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkConfig, loadConfig, machineChecksFor, machineConfigFor, processGroups } from '../src/config/index.js';
import { readConfigText } from '../src/config/index.js';
import { ROOT } from './helpers.js';

/** fly.toml files in the shapes of Fly's launch templates and example apps (see test/fixtures/fly-configs/). */
const DIR = join(ROOT, 'test', 'fixtures', 'fly-configs');
const file = (name: string) => join(DIR, name);
const warningPaths = (name: string, app?: string) => loadConfig(file(name), { app }).warnings.map((w) => w.path);

test('every fixture except the deliberately broken one loads (no-app with -a)', () => {
  for (const name of readdirSync(DIR).filter((f) => f.endsWith('.toml'))) {
    const r = checkConfig(readConfigText(file(name)), file(name), name === 'no-app.toml' ? { app: 'staging' } : {});
    if (name === 'bad-types.toml') assert.notEqual(r.problems.length, 0);
    else assert.deepEqual(r.problems, [], name);
  }
});

test('a Node app as fly launch writes it loads without warnings', () => {
  const { config, warnings } = loadConfig(file('node-app.toml'));
  assert.deepEqual(warnings, []);
  assert.equal(config.httpService!.autoStopMachines, 'stop');
  assert.deepEqual(config.vm, [{ memoryMb: 1024, cpus: 1, cpuKind: 'shared' }]);
});

test('a Go app with a size preset', () => {
  const { config, warnings } = loadConfig(file('go-app.toml'));
  assert.deepEqual(warnings, []);
  assert.equal(config.killSignal, 'SIGTERM');
  assert.deepEqual(config.vm, [{ size: 'shared-cpu-2x', memoryMb: 512, cpus: 2, cpuKind: 'shared' }]);
  assert.deepEqual(config.build.args, { GO_VERSION: '1.22' });
});

test('Rails, Phoenix and Django apps: release commands kept, statics/mounts/console_command warned', () => {
  const rails = loadConfig(file('rails-app.toml')).config;
  assert.equal(rails.deploy.releaseCommand, './bin/rails db:prepare');
  assert.deepEqual(processGroups(rails), ['app', 'worker']);
  assert.deepEqual(warningPaths('rails-app.toml'), ['console_command', 'statics']);
  assert.equal(loadConfig(file('phoenix-app.toml')).config.deploy.releaseCommand, '/app/bin/migrate');
  assert.deepEqual(warningPaths('phoenix-app.toml'), ['vm[0].memory', 'mounts']);
  assert.deepEqual(warningPaths('python-app.toml'), ['console_command', 'statics']);
  assert.equal(loadConfig(file('python-app.toml')).config.vm[0]!.memoryMb, 256);
});

test('an old [[services]] file: string ports, "20,25" concurrency, check timings in ms', () => {
  const { config } = loadConfig(file('old-services.toml'));
  assert.deepEqual(config.processes, {});
  const [svc] = config.services;
  assert.equal(svc!.internalPort, 8080);
  assert.deepEqual(svc!.ports.map((p) => p.port), [80, 443]);
  assert.deepEqual(svc!.concurrency, { type: 'requests', softLimit: 20, hardLimit: 25 });
  assert.deepEqual([svc!.httpChecks[0]!.intervalMs, svc!.httpChecks[0]!.timeoutMs], [10_000, 2_000]);
  assert.equal(config.killTimeoutMs, 5_000);
  assert.deepEqual(warningPaths('old-services.toml'), [
    'services[0].internal_port',
    'services[0].concurrency',
    'services[0].ports[0].port',
    'kill_timeout',
    'services[0].http_checks[0].interval',
    'services[0].http_checks[0].timeout',
    'experimental.allowed_public_ports',
    'experimental.auto_rollback',
    'services[0].script_checks',
    'services[0].tcp_checks[0].restart_limit',
    'services[0].http_checks[0].restart_limit',
  ]);
});

test('[experimental] cmd runs as the app group; processes = [] is no processes', () => {
  const exp = loadConfig(file('experimental-cmd.toml')).config;
  assert.deepEqual(machineConfigFor(exp, { group: 'app', image: 'i' }).init, { cmd: ['node', 'server.js'] });
  assert.deepEqual(warningPaths('experimental-cmd.toml'), ['experimental.auto_rollback']);
  assert.deepEqual(processGroups(loadConfig(file('processes-empty.toml')).config), ['app']);
  assert.deepEqual(warningPaths('processes-empty.toml'), ['build.builder']);
});

test('a file without app needs -a, and takes its name from it', () => {
  assert.throws(() => loadConfig(file('no-app.toml')), (err: { code?: string }) => err.code === 'no_app');
  assert.equal(loadConfig(file('no-app.toml'), { app: 'billing-staging' }).config.app, 'billing-staging');
});

test('vm.size as a dotted key, machine checks per group', () => {
  assert.deepEqual(loadConfig(file('vm-size.toml')).config.vm, [{ size: 'performance-2x', memoryMb: 8192, cpus: 2, cpuKind: 'performance' }]);
  const mc = loadConfig(file('machine-checks.toml')).config;
  assert.deepEqual(machineChecksFor(mc, 'web').map((c) => c.image ?? 'release image'), ['curlimages/curl']);
  assert.deepEqual(machineChecksFor(mc, 'worker'), [{ command: ['npm', 'run', 'smoke'], entrypoint: ['/usr/local/bin/docker-entrypoint.sh'] }]);
});

test('every accepted-but-ignored key is one warning', () => {
  const { warnings } = loadConfig(file('all-ignored.toml'));
  const paths = warnings.map((w) => w.path);
  assert.equal(new Set(paths).size, paths.length, 'no key is reported twice');
  assert.ok(warnings.every((w) => /is not supported by hangar and is ignored$/.test(w.message)), JSON.stringify(warnings.filter((w) => !w.message.endsWith('ignored'))));
  for (const key of ['swap_size_mb', 'experimental.auto_rollback', 'build.compression', 'deploy.seed_command', 'vm[0].max_memory_mb', 'machine_checks', 'checks.alive.kind']) {
    assert.ok(paths.includes(key), `${key} is warned about`);
  }
  assert.equal(paths.length, 53, "one per ignored key in the file");
});

test('a [[processes]] list: unnamed entries dropped, a missing command runs the image, other keys warned', () => {
  const { config, warnings } = loadConfig(file('processes-list.toml'));
  assert.deepEqual(config.processes, { web: 'bin/server --port 8080', cron: '' });
  assert.deepEqual(machineConfigFor(config, { group: 'cron', image: 'i' }).init, {});
  assert.deepEqual(machineConfigFor(config, { group: 'web', image: 'i' }).init, { cmd: ['bin/server', '--port', '8080'] });
  assert.deepEqual(warnings.map((w) => w.path), ['processes[1].cmd', 'processes[2]', 'processes']);
});

test('an empty [processes] command runs [experimental] cmd; the entrypoint goes before every group', () => {
  const { config, warnings } = loadConfig(file('empty-process-command.toml'));
  assert.deepEqual(processGroups(config), ['web', 'worker']);
  assert.deepEqual(machineConfigFor(config, { group: 'web', image: 'i' }).init, { cmd: ['/usr/bin/tini', '--', 'node', 'dist/web.js'] });
  assert.deepEqual(machineConfigFor(config, { group: 'worker', image: 'i' }).init, { cmd: ['/usr/bin/tini', '--', 'node', 'dist/worker.js'] });
  assert.deepEqual(warnings.map((w) => w.path), ['experimental.entrypoint'], 'cmd is used, so it is not reported as unused');
});

test("a service check's port is dropped, as flyctl drops it: the check probes internal_port", () => {
  const { config, warnings } = loadConfig(file('service-check-port.toml'));
  const [svc] = machineConfigFor(config, { group: 'app', image: 'i' }).services;
  assert.deepEqual(svc!.checks.map((c) => [c.type, c.port]), [['http', 4000], ['tcp', 4000]]);
  const dropped = warnings.filter((w) => w.path.endsWith('.port') && !w.path.includes('ports'));
  assert.deepEqual(dropped.map((w) => w.path), ['services[0].http_checks[0].port', 'services[0].tcp_checks[0].port']);
  assert.match(dropped[1]!.message, /internal_port \(port was "8080"\)/);
});

test('single tables where lists go are one-entry lists; an empty [[services]] entry is dropped', () => {
  const one = loadConfig(file('services-one-table.toml'));
  const [svc] = one.config.services;
  assert.equal(one.config.services.length, 1);
  assert.deepEqual(svc!.ports.map((p) => p.port), [7000]);
  assert.deepEqual(svc!.tcpChecks.map((c) => c.intervalMs), [15_000]);
  assert.deepEqual(one.warnings.map((w) => w.path), ['services', 'services[0].ports', 'services[0].tcp_checks']);
  const empty = loadConfig(file('services-empty-entry.toml'));
  assert.deepEqual(empty.config.services.map((s) => s.internalPort), [8080]);
  assert.deepEqual(empty.warnings.map((w) => w.path), ['services[0]']);
  assert.match(empty.warnings[0]!.message, /empty \[\[services\]\] entry is ignored/);
});

test('a service without internal_port is accepted, as flyctl accepts it, and left out with a warning', () => {
  const { config, warnings } = loadConfig(file('service-without-port.toml'));
  assert.deepEqual(config.services, []);
  assert.equal(config.httpService!.internalPort, 8080);
  assert.deepEqual(warnings.map((w) => w.path), ['services', 'services[0]']);
  assert.match(warnings[1]!.message, /without internal_port is ignored/);
  const typed = checkConfig('app = "x"\n[[services]]\ninternal_port = "eighty"\n', file('inline.toml'));
  assert.deepEqual(typed.problems.map((p) => p.path), ['services[0].internal_port'], 'a wrong type is still an error');
});

test('an empty duration is unset where flyctl reads it so, and the default applies', () => {
  const { config, warnings } = loadConfig(file('empty-durations.toml'));
  assert.equal(config.killTimeoutMs, 5_000);
  assert.equal(config.services[0]!.httpChecks[0]!.gracePeriodMs, 1_000);
  assert.equal(config.checks.db!.intervalMs, 15_000);
  assert.deepEqual(warnings.map((w) => w.path), ['kill_timeout', 'services[0].http_checks[0].grace_period', 'checks.db.interval']);
  const blank = checkConfig('app = "x"\n[http_service]\n[[http_service.checks]]\ninterval = ""\n', file('inline.toml'));
  assert.deepEqual(blank.problems.map((p) => p.path), ['http_service.checks[0].interval'], 'flyctl fails on "" in [[http_service.checks]] too');
});

test('bare milliseconds in [[http_service.checks]] are read as such, and the warning says flyctl differs there', () => {
  const { config, warnings } = loadConfig(file('http-service-check-ms.toml'));
  assert.deepEqual([config.httpService!.checks[0]!.intervalMs, config.httpService!.checks[0]!.timeoutMs], [15_000, 2_000]);
  assert.deepEqual(warnings.map((w) => w.path), ['http_service.checks[0].interval', 'http_service.checks[0].timeout']);
  assert.match(warnings[0]!.message, /flyctl would read nanoseconds here/);
});

test('[experimental] cmd as one string with spaces is split, with a warning that flyctl does not split it', () => {
  const { config, warnings } = loadConfig(file('experimental-cmd-string.toml'));
  assert.deepEqual(machineConfigFor(config, { group: 'app', image: 'i' }).init, { cmd: ['node', 'server.js', '--port', '8080'] });
  assert.deepEqual(warnings.map((w) => w.path), ['experimental.cmd']);
  assert.match(warnings[0]!.message, /single argument/);
});

test('what flyctl rejects stays an error: a script check, an unknown strategy', () => {
  const script = checkConfig('app = "x"\n[checks.role]\ntype = "script"\ncommand = "flycheck"\nport = 1\n', file('inline.toml'));
  assert.deepEqual(script.problems.map((p) => p.path), ['checks.role.type']);
  const strategy = checkConfig('app = "x"\n[deploy]\nstrategy = "rolling-eyes"\n', file('inline.toml'));
  assert.deepEqual(strategy.problems.map((p) => p.path), ['deploy.strategy']);
});
