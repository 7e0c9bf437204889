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
