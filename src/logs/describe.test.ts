import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineEvent } from '../core/types.js';
import { deployEventLines, healthLine, machineEventLines, oneLine, shellWords } from './describe.js';

const ev = (e: Partial<MachineEvent> & Pick<MachineEvent, 'type' | 'status'>): MachineEvent => ({ id: 1, machineId: 'm', source: 'user', timestamp: 0, ...e });

test('machine events read as runner lines; an exit that schedules a restart says both', () => {
  assert.deepEqual(machineEventLines(ev({ type: 'launch', status: 'created' })), [{ level: 'info', message: 'Machine created' }]);
  assert.deepEqual(machineEventLines(ev({ type: 'start', status: 'starting', source: 'hangar' })), [{ level: 'info', message: 'Starting machine (by hangar)' }]);
  assert.deepEqual(machineEventLines(ev({ type: 'exit', status: 'stopped', signal: 'SIGINT' })), [{ level: 'info', message: 'Machine exited on signal SIGINT; stopped' }]);
  assert.deepEqual(machineEventLines(ev({ type: 'exit', status: 'restarting', source: 'hangar', exitCode: 3, message: 'restarting in 20 ms (attempt 1)' })), [
    { level: 'error', message: 'Machine exited with code 3' },
    { level: 'info', message: 'Restart scheduled: restarting in 20 ms (attempt 1)' },
  ]);
  assert.equal(machineEventLines(ev({ type: 'exit', status: 'failed', exitCode: 1, message: 'crash loop' }))[1]!.message, 'Machine failed: crash loop');
  assert.deepEqual(machineEventLines(ev({ type: 'suspend', status: 'suspended' })), [{ level: 'info', message: 'suspend suspended' }], 'an unknown event still shows');
});

test('check output is kept to one line of bounded length', () => {
  assert.equal(oneLine('HTTP 500:\n  unhealthy\n\n'), 'HTTP 500: unhealthy');
  const long = oneLine('x'.repeat(1000));
  assert.equal(long.length, 200);
  assert.ok(long.endsWith('…'));
  assert.deepEqual(healthLine({ name: 'servicecheck-00-http-8080', status: 'critical', output: 'HTTP 500:\nunhealthy' }), { level: 'warn', message: 'Health check servicecheck-00-http-8080 is now failing: HTTP 500: unhealthy' });
  assert.deepEqual(healthLine({ name: 'web', status: 'passing', output: 'HTTP 200' }), { level: 'info', message: 'Health check web is now passing' });
});

test('deploy events read as deploy lines; a machine outcome names the machine; release-command output is not repeated', () => {
  const d = { releaseVersion: 4 };
  assert.deepEqual(deployEventLines(d, { type: 'phase', phase: 'release_command', message: 'running release command: ./migrate' }), [{ level: 'info', message: 'v4 release_command: running release command: ./migrate' }]);
  assert.deepEqual(deployEventLines(d, { type: 'machine', machineId: 'abc', outcome: 'failed', message: 'did not pass its checks' }), [{ level: 'error', message: 'v4 machine failed: did not pass its checks', machineId: 'abc' }]);
  assert.equal(deployEventLines(d, { type: 'done', status: 'rolled_back', release: 4, message: 'rolled back', url: null })[0]!.level, 'warn');
  assert.deepEqual(deployEventLines(d, { type: 'log', source: 'release_command', line: 'migrating' }), []);
});

test('the release command reads as typed: arguments with spaces or quotes are quoted', () => {
  assert.equal(shellWords(['sh', '-c', "echo it's done"]), `sh -c 'echo it'\\''s done'`);
  assert.equal(shellWords(['bin/rails', 'db:migrate', 'A=1']), 'bin/rails db:migrate A=1');
});
