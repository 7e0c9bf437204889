import { test } from 'node:test';
import assert from 'node:assert/strict';
import { machineConfigFor, parseConfig } from './index.js';

const parse = (text: string) => parseConfig(text, '/apps/x/fly.toml');

test('kill_timeout = 5 is five seconds, as in flyctl, with a warning that a unit is clearer', () => {
  const { config, warnings } = parse('app = "x"\nkill_timeout = 5\n');
  assert.equal(config.killTimeoutMs, 5_000);
  assert.deepEqual(warnings, [{ path: 'kill_timeout', message: 'the bare number 5 is read as 5 seconds; write "5s" to make the unit plain' }]);
  assert.deepEqual(parse('app = "x"\nkill_timeout = "5s"\n').warnings, [], 'a unit string needs no warning');
});

test('bare numbers in old [[services.http_checks]] / [[services.tcp_checks]] are milliseconds', () => {
  const { config, warnings } = parse(`app = "x"
[[services]]
internal_port = 8080
[[services.http_checks]]
interval = 10000
timeout = 2000
grace_period = 5000
[[services.tcp_checks]]
interval = 15000
`);
  const [http] = config.services[0]!.httpChecks;
  assert.deepEqual([http!.intervalMs, http!.timeoutMs, http!.gracePeriodMs], [10_000, 2_000, 5_000], 'interval = 10000 is 10 s, not 2.8 hours');
  assert.equal(config.services[0]!.tcpChecks[0]!.intervalMs, 15_000);
  assert.deepEqual(warnings.map((w) => w.path), [
    'services[0].http_checks[0].interval',
    'services[0].http_checks[0].timeout',
    'services[0].http_checks[0].grace_period',
    'services[0].tcp_checks[0].interval',
  ]);
  assert.match(warnings[0]!.message, /10000 milliseconds \(10s\).*write "10s"/);
  const mc = machineConfigFor(config, { group: 'app', image: 'i' });
  assert.equal(mc.services[0]!.checks[0]!.interval, '10s');
});

test('top-level [checks] and [[http_service.checks]] read bare numbers as milliseconds too', () => {
  const { config, warnings } = parse(`app = "x"
[http_service]
[[http_service.checks]]
interval = 1500
[checks.db]
type = "tcp"
port = 5432
timeout = 250
`);
  assert.equal(config.httpService!.checks[0]!.intervalMs, 1_500);
  assert.equal(config.checks.db!.timeoutMs, 250);
  assert.match(warnings[0]!.message, /write "1500ms"/, 'the suggested unit keeps the exact value');
});

test('other duration keys read a bare number as seconds, with the same warning', () => {
  const { config, warnings } = parse(`app = "x"
[deploy]
wait_timeout = 120
release_command_timeout = "90"
[http_service]
idle_timeout = 300
[[http_service.machine_checks]]
command = "true"
kill_timeout = 20
`);
  assert.equal(config.deploy.waitTimeoutMs, 120_000);
  assert.equal(config.deploy.releaseCommandTimeoutMs, 90_000);
  assert.equal(config.httpService!.idleTimeoutMs, 300_000);
  assert.equal(config.httpService!.machineChecks[0]!.killTimeoutMs, 20_000);
  assert.deepEqual(warnings.map((w) => w.path), [
    'deploy.wait_timeout',
    'deploy.release_command_timeout',
    'http_service.idle_timeout',
    'http_service.machine_checks[0].kill_timeout',
  ]);
});

test('a negative or non-numeric duration is still an error at its path', () => {
  assert.throws(() => parse('app = "x"\nkill_timeout = -5\n'), (err: { details?: Array<{ path: string }> }) => err.details?.[0]?.path === 'kill_timeout');
});
