import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Deployment } from '../core/deploy.js';
import type { Machine } from '../core/types.js';
import { GRACE_OUTPUT, type HealthChange } from '../health/index.js';
import type { PlatformLine } from './collector.js';
import { PlatformLog } from './platform.js';

const machine = { id: 'm1', appName: 'web', region: 'ams', state: 'started', instanceId: 'i1' } as Machine;

function platform() {
  const lines: PlatformLine[] = [];
  const due = new Set<() => void>();
  const log = new PlatformLog({
    store: (l) => lines.push(l),
    schedule: (fn) => {
      due.add(fn);
      return () => due.delete(fn);
    },
  });
  log.machine(machine);
  const endWindow = () => [...due].forEach((fn) => (due.delete(fn), fn()));
  return { log, lines, endWindow };
}

const change = (instanceId: string, status: 'passing' | 'critical', output: string): HealthChange => ({
  machineId: 'm1',
  instanceId,
  checks: [{ name: 'web', status, output, updatedAt: '', gatesRouting: true }],
  routable: status === 'passing',
  allPassing: status === 'passing',
});

test('health lines are written when a check changes status, not for every probe', () => {
  const { log, lines } = platform();
  log.health(change('i1', 'critical', GRACE_OUTPUT));
  log.health(change('i1', 'passing', 'HTTP 200'));
  log.health(change('i1', 'passing', 'HTTP 200 (again)'));
  log.health(change('i1', 'critical', 'HTTP 500: unhealthy'));
  log.health(change('i1', 'critical', 'HTTP 500: still unhealthy'));
  log.health(change('i1', 'passing', 'HTTP 200'));
  // A restart goes through the grace period again: its first result is news even if it is the same.
  log.health(change('i1', 'critical', GRACE_OUTPUT));
  log.health(change('i1', 'passing', 'HTTP 200'));
  assert.deepEqual(lines.map((l) => [l.source, l.level, l.message]), [
    ['health', 'info', 'Health check web is now passing'],
    ['health', 'warn', 'Health check web is now failing: HTTP 500: unhealthy'],
    ['health', 'info', 'Health check web is now passing'],
    ['health', 'info', 'Health check web is now passing'],
  ]);
  assert.ok(lines.every((l) => l.machine_id === 'm1' && l.instance_id === 'i1' && l.region === 'ams' && l.app === 'web'));
});

test('a deploy candidate instance has its own check history', () => {
  const { log, lines } = platform();
  log.health(change('i1', 'passing', 'ok'));
  log.health(change('i2', 'passing', 'ok'));
  assert.deepEqual(lines.map((l) => l.instance_id), ['i1', 'i2']);
});

test('identical proxy errors of an app are written once per window, then summarised', () => {
  const { log, lines, endWindow } = platform();
  for (let i = 0; i < 50; i++) log.proxyError('web', { kind: 'no_healthy_machine', message: 'No healthy machine' });
  log.proxyError('web', { kind: 'connect_failed', machineId: 'm1', message: 'Could not connect to machine m1' });
  log.proxyError('other', { kind: 'no_healthy_machine', message: 'No healthy machine' });
  assert.deepEqual(lines.map((l) => [l.app, l.machine_id, l.message]), [
    ['web', undefined, 'No healthy machine'],
    ['web', 'm1', 'Could not connect to machine m1'],
    ['other', undefined, 'No healthy machine'],
  ]);
  assert.equal(lines[1]!.region, 'ams', 'a line about a machine carries its region');
  assert.equal(lines[0]!.region, undefined, 'an app-wide line carries none');
  endWindow();
  assert.deepEqual(lines.slice(3).map((l) => [l.app, l.message]), [['web', 'No healthy machine (49 more)']]);
});

test('a stop that outlived kill_timeout says both signals, each at the time it was sent', () => {
  const { log, lines } = platform();
  log.signal({ ...machine, state: 'stopping' }, { instanceId: 'i1', signal: 'SIGINT', at: Date.UTC(2030, 0, 1), timeoutMs: 300, escalated: true });
  assert.deepEqual(lines.map((l) => [l.timestamp, l.level, l.message]), [
    ['2030-01-01T00:00:00.000Z', 'info', 'Sent SIGINT to stop the machine'],
    ['2030-01-01T00:00:00.300Z', 'warn', 'Instance still running after 300 ms (kill_timeout): sent SIGKILL'],
  ]);
});

test('deploy lines: phases are app-wide, a machine outcome is about the machine and its region', () => {
  const { log, lines } = platform();
  const d = { appName: 'web', releaseVersion: 2, machines: [{ machineId: 'm9', region: 'dfw' }] } as unknown as Deployment;
  log.deploy(d, { type: 'phase', phase: 'update_machines', message: 'updating 1 machine' });
  log.deploy(d, { type: 'machine', machineId: 'm9', outcome: 'updated', message: '' });
  assert.deepEqual(lines.map((l) => [l.source, l.machine_id, l.region, l.message]), [
    ['deploy', undefined, undefined, 'v2 update_machines: updating 1 machine'],
    ['deploy', 'm9', 'dfw', 'v2 machine updated'],
  ]);
});

test('release command lines name its machine and the region it ran in, never its environment', () => {
  const { log, lines } = platform();
  const spec = { machineId: 'release-0a1b2c3d4e', instanceId: 'r1', appName: 'web', image: { ref: 'x', digest: 'd' }, cmd: ['sh', '-c', 'migrate'], env: { FLY_REGION: 'ams', TOKEN: 'hunter2' }, port: 0 };
  log.releaseStarting(spec);
  log.releaseExited(spec, { machineId: spec.machineId, instanceId: 'r1', exitCode: 1, signal: null, requested: false, at: 0 });
  assert.deepEqual(lines.map((l) => [l.source, l.machine_id, l.region, l.level, l.message]), [
    ['release_command', 'release-0a1b2c3d4e', 'ams', 'info', 'Running release command: sh -c migrate'],
    ['release_command', 'release-0a1b2c3d4e', 'ams', 'error', 'Release command exited with code 1'],
  ]);
  assert.ok(!JSON.stringify(lines).includes('hunter2'));
});

test('a line that cannot be stored is reported, not thrown into the machine operation that caused it', () => {
  const errors: unknown[] = [];
  const log = new PlatformLog({
    store: () => {
      throw new Error('ENOSPC: no space left on device');
    },
    onError: (err) => errors.push(err),
  });
  log.machineEvent({ id: 1, machineId: 'm1', type: 'start', status: 'started', source: 'user', timestamp: 0 }, machine);
  assert.equal((errors[0] as Error).message, 'ENOSPC: no space left on device');
});
