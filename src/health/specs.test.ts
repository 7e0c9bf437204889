import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValidationError } from '../core/errors.js';
import type { MachineConfig } from '../core/types.js';
import { CHECK_DEFAULTS, checkSpecsFor } from './specs.js';

const MACHINE_PORT = 40_000;

function machineConfig(over: Partial<MachineConfig>): MachineConfig {
  return {
    image: 'hangar.local/app:v1',
    env: {},
    init: {},
    services: [],
    checks: {},
    restart: { policy: 'on-failure' },
    stop_config: { signal: 'SIGINT', timeout: '5s' },
    metadata: {},
    ...over,
  };
}

const service = (internal_port: number, checks: MachineConfig['services'][number]['checks']) => ({
  protocol: 'tcp' as const,
  internal_port,
  ports: [],
  checks,
});

test('service checks get Fly names, gate routing, and are pointed at the machine port', () => {
  const config = machineConfig({
    services: [
      service(8080, [
        { type: 'http', path: '/health' },
        { type: 'tcp', port: 8080, interval: '10s' },
      ]),
      service(9090, [{ type: 'tcp', port: 9999, timeout: '500ms', grace_period: '3s' }]),
    ],
  });
  const specs = checkSpecsFor(config, MACHINE_PORT);
  assert.deepEqual(
    specs.map((s) => [s.name, s.type, s.port, s.gatesRouting]),
    [
      ['servicecheck-00-http-8080', 'http', MACHINE_PORT, true],
      ['servicecheck-01-tcp-8080', 'tcp', MACHINE_PORT, true],
      ['servicecheck-02-tcp-9090', 'tcp', 9999, true],
    ],
  );
  assert.equal(specs[0]!.path, '/health');
  assert.equal(specs[1]!.intervalMs, 10_000);
  assert.deepEqual([specs[2]!.timeoutMs, specs[2]!.gracePeriodMs], [500, 3000]);
});

test('top-level checks keep their key, do not gate routing, and map any internal port to the machine port', () => {
  const config = machineConfig({
    services: [service(8080, []), service(9090, [])],
    checks: {
      bare: { type: 'http' },
      other_service: { type: 'tcp', port: 9090 },
      db: { type: 'tcp', port: 5432 },
    },
  });
  const specs = checkSpecsFor(config, MACHINE_PORT);
  assert.deepEqual(
    specs.map((s) => [s.name, s.port, s.gatesRouting]),
    [
      ['bare', MACHINE_PORT, false],
      ['other_service', MACHINE_PORT, false],
      ['db', 5432, false],
    ],
  );
});

test('missing fields take Fly defaults; headers become one record entry per name', () => {
  const config = machineConfig({
    checks: {
      full: {
        type: 'http',
        method: 'head',
        path: '/ready',
        protocol: 'https',
        headers: [
          { name: 'X-Forwarded-Proto', values: ['https'] },
          { name: 'Accept', values: ['text/plain', 'application/json'] },
        ],
      },
      bare: { type: 'tcp' },
    },
  });
  const [full, bare] = checkSpecsFor(config, MACHINE_PORT);
  assert.deepEqual(full, {
    name: 'full',
    type: 'http',
    port: MACHINE_PORT,
    intervalMs: 15_000,
    timeoutMs: 2_000,
    gracePeriodMs: 1_000,
    method: 'HEAD',
    path: '/ready',
    protocol: 'https',
    headers: { 'X-Forwarded-Proto': 'https', Accept: 'text/plain, application/json' },
    gatesRouting: false,
  });
  assert.equal(bare!.method, CHECK_DEFAULTS.method);
  assert.equal(bare!.path, '/');
  assert.equal(bare!.protocol, 'http');
  assert.deepEqual(bare!.headers, {});
});

test('a machine without checks has no specs', () => {
  assert.deepEqual(checkSpecsFor(machineConfig({ services: [service(8080, [])] }), MACHINE_PORT), []);
});

test('malformed durations and ports are all reported at once, with their paths', () => {
  const config = machineConfig({
    services: [service(8080, [{ type: 'http', interval: 'soon' }])],
    checks: { db: { type: 'tcp', port: 70_000, timeout: '2 seconds' } },
  });
  assert.throws(
    () => checkSpecsFor(config, MACHINE_PORT),
    (err: unknown) => {
      assert.ok(err instanceof ValidationError);
      assert.equal(err.code, 'invalid_input');
      assert.deepEqual(
        err.details.map((d) => [d.path, d.value]),
        [
          ['services[0].checks[0].interval', 'soon'],
          ['checks.db.port', 70_000],
          ['checks.db.timeout', '2 seconds'],
        ],
      );
      return true;
    },
  );
});
