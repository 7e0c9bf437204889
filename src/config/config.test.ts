import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError, ValidationError } from '../core/errors.js';
import { validationError } from './test-support.js';
import { findConfigFile, loadConfig, machineConfigFor, parseConfig, processGroups, splitCommand, type AppConfig } from './index.js';

const FULL_FLY_TOML = `
app = "shop-api"
primary_region = "iad"
kill_signal = "SIGTERM"
kill_timeout = "30s"
swap_size_mb = 512

[build]
dockerfile = "Dockerfile.prod"
build-target = "runtime"
[build.args]
NODE_VERSION = "20"

[env]
LOG_LEVEL = "info"
WORKERS = 4
DEBUG = false

[processes]
web = "node server.js"
worker = ["node", "worker.js"]

[deploy]
strategy = "bluegreen"
max_unavailable = 1
wait_timeout = "2m"
release_command = "npm run migrate"
release_command_timeout = "90s"
max_concurrent = 4

[http_service]
internal_port = 3000
force_https = true
auto_stop_machines = "stop"
auto_start_machines = true
min_machines_running = 1
processes = ["web"]
  [http_service.concurrency]
  type = "requests"
  soft_limit = 20
  hard_limit = 25
  [[http_service.checks]]
  grace_period = "10s"
  interval = "30s"
  timeout = "5s"
  method = "get"
  path = "/health"
  headers = { X-Probe = "hangar" }

[[services]]
internal_port = 5433
protocol = "tcp"
processes = ["worker"]
  [[services.ports]]
  port = 5433
  [[services.tcp_checks]]
  interval = 10

[checks.db]
type = "tcp"
port = 5432
processes = ["worker"]

[checks.ready]
type = "http"
path = "/ready"

[[restart]]
policy = "always"
processes = ["worker"]

[[vm]]
size = "shared-cpu-1x"
memory = "1gb"
cpus = 2
cpu_kind = "shared"

[mounts]
source = "data"
destination = "/data"
`;


const parse = (text: string) => parseConfig(text, '/apps/shop/hangar.toml');
const config = (text: string): AppConfig => parse(text).config;
const detailPaths = (err: ValidationError) => err.details.map((d) => d.path);

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('a full fly.toml parses into camelCase values with durations in ms', () => {
  const { config: cfg, warnings, dir } = parseConfig(FULL_FLY_TOML, '/apps/shop/fly.toml');
  assert.equal(dir, '/apps/shop');
  assert.equal(cfg.app, 'shop-api');
  assert.equal(cfg.primaryRegion, 'iad');
  assert.equal(cfg.killSignal, 'SIGTERM');
  assert.equal(cfg.killTimeoutMs, 30_000);
  assert.deepEqual(cfg.build, { dockerfile: 'Dockerfile.prod', buildTarget: 'runtime', args: { NODE_VERSION: '20' } });
  assert.deepEqual(cfg.env, { LOG_LEVEL: 'info', WORKERS: '4', DEBUG: 'false' });
  assert.deepEqual(cfg.processes, { web: 'node server.js', worker: ['node', 'worker.js'] });
  assert.deepEqual(cfg.deploy, {
    strategy: 'bluegreen',
    maxUnavailable: 1,
    waitTimeoutMs: 120_000,
    releaseCommand: 'npm run migrate',
    releaseCommandTimeoutMs: 90_000,
    canary: { count: 1, steps: [5, 25, 50], stepIntervalMs: 30_000, maxErrorRate: 0.05, maxLatencyRatio: 2, latencyFloorMs: 50, minRequests: 20 },
    bluegreen: { autoPromote: true },
    notify: [],
  });
  assert.equal(cfg.httpService?.internalPort, 3000);
  assert.deepEqual(cfg.httpService?.concurrency, { type: 'requests', softLimit: 20, hardLimit: 25 });
  assert.deepEqual(cfg.httpService?.checks[0], {
    intervalMs: 30_000,
    timeoutMs: 5_000,
    gracePeriodMs: 10_000,
    method: 'GET',
    path: '/health',
    protocol: 'http',
    headers: { 'X-Probe': 'hangar' },
    tlsSkipVerify: false,
  });
  // A bare number in a check is milliseconds, as flyctl reads it (kill_timeout's bare number is seconds).
  assert.deepEqual(cfg.services[0]?.tcpChecks, [{ intervalMs: 10, timeoutMs: 2_000, gracePeriodMs: 1_000 }]);
  assert.equal(cfg.checks.ready?.port, 3000, 'a check without a port probes the http_service port');
  assert.deepEqual(cfg.vm, [{ size: 'shared-cpu-1x', memoryMb: 1024, cpus: 2, cpuKind: 'shared' }]);
  assert.deepEqual(processGroups(cfg), ['web', 'worker']);
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['services[0].tcp_checks[0].interval', 'swap_size_mb', 'deploy.max_concurrent', 'mounts'],
  );
});

test('the config is deeply frozen', () => {
  const cfg = config(FULL_FLY_TOML);
  assert.ok(Object.isFrozen(cfg));
  assert.ok(Object.isFrozen(cfg.httpService?.checks[0]?.headers));
  assert.throws(() => {
    (cfg.env as Record<string, string>).LOG_LEVEL = 'debug';
  }, TypeError);
});

test('a minimal file gets documented defaults and the implicit "app" group', () => {
  const cfg = config('app = "tiny"');
  assert.equal(cfg.primaryRegion, 'local');
  assert.equal(cfg.killSignal, 'SIGINT');
  assert.equal(cfg.killTimeoutMs, 5_000);
  assert.deepEqual(cfg.processes, {});
  assert.deepEqual(processGroups(cfg), ['app']);
  assert.equal(cfg.deploy.strategy, 'rolling');
  assert.equal(cfg.httpService, undefined);
});

test('findConfigFile prefers hangar.toml, falls back to fly.toml, else undefined', (t) => {
  const dir = tempDir(t);
  assert.equal(findConfigFile(dir), undefined);
  writeFileSync(join(dir, 'fly.toml'), 'app = "from-fly"\n');
  assert.equal(findConfigFile(dir), join(dir, 'fly.toml'));
  assert.equal(loadConfig(findConfigFile(dir)!).config.app, 'from-fly');
  writeFileSync(join(dir, 'hangar.toml'), 'app = "from-hangar"\n');
  assert.equal(findConfigFile(dir), join(dir, 'hangar.toml'));
});

test('loading a missing file is config_not_found with a hint', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => loadConfig(join(dir, 'hangar.toml')),
    (err: unknown) => err instanceof UserError && err.code === 'config_not_found' && err.hint !== undefined,
  );
});

test('malformed TOML reports file, line and column', () => {
  const err = validationError(() => parse('app = "x"\n[http_service]\ninternal_port = = 8080\n'));
  assert.match(err.message, /\/apps\/shop\/hangar\.toml at line 3, column \d+/);
  assert.equal(err.details.length, 1);
  assert.match(err.details[0]!.path, /^\/apps\/shop\/hangar\.toml:3:\d+$/);
});

test('every bad field is reported at once, with its path and value', () => {
  const err = validationError(() =>
    parse(`
app = "ok"
[http_service]
internal_port = 70000
[[http_service.checks]]
interval = "soon"
[processes]
web = 5
`),
  );
  assert.match(err.message, /^hangar\.toml has 3 problems:/);
  assert.deepEqual(
    err.details.map((d) => [d.path, d.value]),
    [
      ['processes.web', 5],
      ['http_service.internal_port', 70000],
      ['http_service.checks[0].interval', 'soon'],
    ],
  );
  for (const path of detailPaths(err)) assert.ok(err.message.includes(path), `message lists ${path}`);
});

test('an unknown key is a warning with a did-you-mean hint, and the file loads', () => {
  const { config: cfg, warnings } = parse('app = "x"\n[http_service]\ninternal_prot = 8080\n');
  assert.equal(cfg.httpService?.internalPort, 8080, 'the misspelt key is ignored, so the default applies');
  assert.deepEqual(warnings, [
    { path: 'http_service.internal_prot', message: 'unknown key "internal_prot" is ignored (did you mean "internal_port"?)' },
  ]);
  const far = parse('app = "x"\nbananas = 1\n');
  assert.deepEqual(far.warnings.map((w) => w.path), ['bananas']);
  assert.doesNotMatch(far.warnings[0]!.message, /did you mean/);
});

test('a fly-known key hangar ignores is a warning, not an error', () => {
  const { config: cfg, warnings } = parse(`
app = "x"
console_command = "/bin/bash"
[http_service]
[http_service.tls_options]
alpn = ["h2"]
[[vm]]
gpu_kind = "a100-pcie-40gb"
`);
  assert.equal(cfg.httpService?.internalPort, 8080);
  assert.deepEqual(warnings, [
    { path: 'console_command', message: 'fly.toml key console_command is not supported by hangar and is ignored' },
    {
      path: 'http_service.tls_options',
      message: 'fly.toml key http_service.tls_options is not supported by hangar and is ignored',
    },
    { path: 'vm[0].gpu_kind', message: 'fly.toml key vm[0].gpu_kind is not supported by hangar and is ignored' },
  ]);
});

test('durations accept units, compound units and bare seconds', () => {
  const cfg = config(`
app = "x"
kill_timeout = 5
[deploy]
wait_timeout = "2m"
release_command_timeout = "1h30m"
max_machine_age = "5s"
`);
  assert.equal(cfg.killTimeoutMs, 5_000);
  assert.equal(cfg.deploy.waitTimeoutMs, 120_000);
  assert.equal(cfg.deploy.releaseCommandTimeoutMs, 5_400_000);
  assert.equal(cfg.deploy.maxMachineAgeMs, 5_000);
});

test('a bad duration is an error at its path, never a silent default', () => {
  const err = validationError(() => parse('app = "x"\n[deploy]\nwait_timeout = "5 parsecs"\n'));
  assert.deepEqual(detailPaths(err), ['deploy.wait_timeout']);
  assert.equal(err.details[0]!.value, '5 parsecs');
});

test('a processes reference to an undeclared group is an error', () => {
  const err = validationError(() =>
    parse(`
app = "x"
[processes]
web = "serve"
worker = "work"
[http_service]
processes = ["wbe"]
[[restart]]
processes = ["cron"]
`),
  );
  assert.deepEqual(detailPaths(err), ['http_service.processes[0]', 'restart[0].processes[0]']);
  assert.match(err.details[0]!.message, /did you mean "web"/);
});

test('"app" is the only valid reference when [processes] is absent', () => {
  assert.equal(config('app = "x"\n[http_service]\nprocesses = ["app"]\n').httpService?.processes?.[0], 'app');
  const err = validationError(() => parse('app = "x"\n[[vm]]\nprocesses = ["web"]\n'));
  assert.deepEqual(detailPaths(err), ['vm[0].processes[0]']);
});

test('auto_stop_machines booleans map to stop/off; suspend is kept with a warning', () => {
  assert.equal(config('app = "x"\n[http_service]\nauto_stop_machines = true\n').httpService?.autoStopMachines, 'stop');
  assert.equal(config('app = "x"\n[http_service]\nauto_stop_machines = false\n').httpService?.autoStopMachines, 'off');
  const { config: cfg, warnings } = parse('app = "x"\n[http_service]\nauto_stop_machines = "suspend"\n');
  assert.equal(cfg.httpService?.autoStopMachines, 'suspend');
  assert.deepEqual(
    warnings.map((w) => w.path),
    ['http_service.auto_stop_machines'],
  );
});

test('a top-level check without a port and without [http_service] is an error', () => {
  const err = validationError(() => parse('app = "x"\n[checks.alive]\ntype = "tcp"\n'));
  assert.deepEqual(detailPaths(err), ['checks.alive.port']);
});

test('soft_limit above hard_limit is an error', () => {
  const err = validationError(() =>
    parse('app = "x"\n[http_service.concurrency]\nsoft_limit = 30\nhard_limit = 20\n'),
  );
  assert.deepEqual(
    err.details.map((d) => [d.path, d.value]),
    [['http_service.concurrency.soft_limit', 30]],
  );
});

const TWO_GROUPS = `
app = "shop"
kill_signal = "SIGTERM"
kill_timeout = 10
[env]
LOG_LEVEL = "info"
[processes]
web = "node server.js"
worker = ["node", "worker.js"]
[http_service]
internal_port = 3000
force_https = true
processes = ["web"]
  [[http_service.checks]]
  interval = "10s"
  path = "/health"
[checks.queue]
type = "tcp"
port = 6379
processes = ["worker"]
[[restart]]
policy = "always"
processes = ["worker"]
`;

test('machineConfigFor gives the web group its command, service and checks', () => {
  const cfg = config(TWO_GROUPS);
  const mc = machineConfigFor(cfg, {
    group: 'web',
    image: 'hangar.local/shop:v3',
    env: { SECRET: 's' },
    releaseVersion: 3,
  });
  assert.equal(mc.image, 'hangar.local/shop:v3');
  assert.deepEqual(mc.env, { LOG_LEVEL: 'info', SECRET: 's' });
  assert.deepEqual(mc.init, { cmd: ['node', 'server.js'] });
  assert.equal(mc.services.length, 1);
  const [svc] = mc.services;
  assert.equal(svc!.internal_port, 3000);
  assert.deepEqual(svc!.ports, [
    { port: 80, handlers: ['http'], force_https: true },
    { port: 443, handlers: ['tls', 'http'] },
  ]);
  assert.deepEqual(svc!.checks, [
    {
      type: 'http',
      port: 3000,
      interval: '10s',
      timeout: '2s',
      grace_period: '1s',
      method: 'GET',
      path: '/health',
      protocol: 'http',
    },
  ]);
  assert.deepEqual(mc.checks, {});
  assert.deepEqual(mc.restart, { policy: 'on-failure', max_retries: 10 });
  assert.deepEqual(mc.stop_config, { signal: 'SIGTERM', timeout: '10s' });
  assert.deepEqual(mc.metadata, { fly_process_group: 'web', hangar_process_group: 'web', fly_release_version: '3' });
  assert.equal(mc.guest, undefined);
});

test('machineConfigFor gives the worker group its argv, no services and its own checks', () => {
  const mc = machineConfigFor(config(TWO_GROUPS), { group: 'worker', image: 'img' });
  assert.deepEqual(mc.init, { cmd: ['node', 'worker.js'] });
  assert.deepEqual(mc.services, []);
  assert.deepEqual(mc.checks, {
    queue: { type: 'tcp', port: 6379, interval: '15s', timeout: '2s', grace_period: '1s' },
  });
  assert.deepEqual(mc.restart, { policy: 'always' });
  assert.deepEqual(mc.metadata, { fly_process_group: 'worker', hangar_process_group: 'worker' });
});

test('machineConfigFor without [processes] runs the image entrypoint as group "app"', () => {
  const mc = machineConfigFor(config('app = "x"\n[http_service]\n'), { group: 'app', image: 'img' });
  assert.equal(mc.init.cmd, undefined);
  assert.equal(mc.services.length, 1);
});

test('machineConfigFor rejects an unknown group, naming the known ones', () => {
  assert.throws(
    () => machineConfigFor(config(TWO_GROUPS), { group: 'cron', image: 'img' }),
    (err: unknown) =>
      err instanceof UserError &&
      err.code === 'unknown_process_group' &&
      err.message.includes('"web"') &&
      err.message.includes('"worker"'),
  );
});

test('plain commands run directly; shell syntax goes through /bin/sh -c', () => {
  assert.deepEqual(splitCommand('node server.js --port "8 0"'), ['node', 'server.js', '--port', '8 0']);
  assert.deepEqual(splitCommand('npm run migrate && node server.js'), ['/bin/sh', '-c', 'npm run migrate && node server.js']);
  assert.deepEqual(splitCommand('PORT=1 node x.js'), ['/bin/sh', '-c', 'PORT=1 node x.js']);
  assert.deepEqual(splitCommand('echo $HOME'), ['/bin/sh', '-c', 'echo $HOME']);
});
