import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../core/errors.js';
import { machineChecksFor, parseConfig } from './index.js';

const parse = (text: string) => parseConfig(text, '/apps/x/fly.toml');

const TWO_SERVICES = `app = "x"
kill_timeout = "7s"
[processes]
web = "node web.js"
worker = "node worker.js"
[http_service]
internal_port = 8080
processes = ["web"]
[[http_service.machine_checks]]
command = "npm run smoke -- --url http://localhost:8080"
image = "node:20"
entrypoint = ["/usr/bin/env"]
kill_signal = "SIGTERM"
kill_timeout = "45s"
[[services]]
internal_port = 9000
[[services.machine_checks]]
command = ["./check", "queue"]
`;

test('machine_checks are parsed into the typed config, not ignored', () => {
  const { config, warnings } = parse(TWO_SERVICES);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.httpService!.machineChecks, [
    { command: ['npm', 'run', 'smoke', '--', '--url', 'http://localhost:8080'], image: 'node:20', entrypoint: ['/usr/bin/env'], killSignal: 'SIGTERM', killTimeoutMs: 45_000 },
  ]);
  assert.deepEqual(config.services[0]!.machineChecks, [{ command: ['./check', 'queue'] }], 'unset fields stay unset');
});

test('machineChecks is always present, [] without machine_checks', () => {
  const { config } = parse('app = "x"\n[http_service]\n[[services]]\ninternal_port = 1\n');
  assert.deepEqual(config.httpService!.machineChecks, []);
  assert.deepEqual(config.services[0]!.machineChecks, []);
});

test('machineChecksFor gives a group the checks of every service that applies to it', () => {
  const { config } = parse(TWO_SERVICES);
  assert.deepEqual(machineChecksFor(config, 'web').map((c) => c.command[0]), ['npm', './check'], 'a service without processes serves every group');
  assert.deepEqual(machineChecksFor(config, 'worker').map((c) => c.command[0]), ['./check']);
  assert.throws(() => machineChecksFor(config, 'cron'), /unknown process group "cron"/);
});

test('a machine check needs a command; its other keys are checked like the rest of the file', () => {
  let err: unknown;
  try {
    parse('app = "x"\n[http_service]\n[[http_service.machine_checks]]\nimage = "alpine"\nkill_signal = "SIGNOPE"\n');
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ValidationError);
  assert.deepEqual(err.details.map((d) => [d.path, d.message]), [
    ['http_service.machine_checks[0].command', 'is required'],
    ['http_service.machine_checks[0].kill_signal', 'must be one of "SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL", "SIGHUP"'],
  ]);
});
