import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceExit, InstanceSpec, RuntimeDriver } from '../runtime/driver.js';
import { ReleaseCommandDriver } from './release-watch.js';

/** Just enough of a driver: start succeeds (or fails), exits are fired by hand. */
function fakeDriver(failStart?: Error) {
  const listeners = new Set<(e: InstanceExit) => void>();
  const driver = {
    kind: 'process',
    start: async () => {
      if (failStart) throw failStart;
    },
    stop: async () => undefined,
    onExit: (fn: (e: InstanceExit) => void) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  } as unknown as RuntimeDriver;
  const exit = (e: Partial<InstanceExit>) => [...listeners].forEach((fn) => fn({ machineId: 'release-1', instanceId: 'i1', exitCode: 0, signal: null, requested: false, at: 0, ...e }));
  return { driver, exit, listeners };
}

function observer() {
  const seen: string[] = [];
  return {
    seen,
    releaseStarting: () => seen.push('starting'),
    releaseFailed: (_s: InstanceSpec, err: Error) => seen.push(`failed: ${err.message}`),
    releaseExited: (_s: InstanceSpec, e: InstanceExit) => seen.push(`exited ${e.exitCode}`),
    releaseSignalled: (_s: InstanceSpec, signal: string) => seen.push(`signalled ${signal}`),
  };
}

const spec = { machineId: 'release-1', instanceId: 'i1', appName: 'web', image: { ref: 'x', digest: 'd' }, cmd: ['migrate'], env: {}, port: 0 } as InstanceSpec;

test('a release command is reported starting, signalled while it runs (the timeout), and exited; the clean-up stop is not news', async () => {
  const { driver, exit, listeners } = fakeDriver();
  const o = observer();
  const watched = new ReleaseCommandDriver(driver, o);
  await watched.start(spec);
  exit({ machineId: 'other' });
  await watched.stop(spec, { signal: 'SIGTERM', timeoutMs: 2000 });
  exit({ exitCode: 143, signal: 'SIGTERM' });
  await watched.stop(spec, { signal: 'SIGKILL', timeoutMs: 1000 });
  assert.deepEqual(o.seen, ['starting', 'signalled SIGTERM', 'exited 143']);
  assert.equal(listeners.size, 0, 'the exit listener is gone');
});

test('a release command that cannot start is reported as such, and the error still reaches the deploy', async () => {
  const { driver, listeners } = fakeDriver(new Error('image not found'));
  const o = observer();
  await assert.rejects(new ReleaseCommandDriver(driver, o).start(spec), /image not found/);
  assert.deepEqual(o.seen, ['starting', 'failed: image not found']);
  assert.equal(listeners.size, 0);
});
