import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { RuntimeFailure, UserError } from '../core/errors.js';
import { PortAllocator } from './ports.js';
import { reconcile } from './reconcile.js';
import { alive, APP, config, errno, harness, refOf, TEST_HOST } from './test-support.js';

const eperm = () => errno('EPERM', 'kill');

/** The failure as the API reports it: a RuntimeFailure (500) keeping the runtime's error as its cause. */
function isRuntimeFailure(cause: Error) {
  return (err: unknown) => err instanceof RuntimeFailure && err.cause === cause;
}

const lastEvent = async (h: Awaited<ReturnType<typeof harness>>, id: string) => (await h.state.machines.events(id, 1))[0]!;

test('stop: an unknown signal is a 400 naming the field, before anything is persisted', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = await h.pidOf(refOf(m));
  for (const [call, path] of [
    [() => h.machines.stop(APP, m.id, { signal: 'SIG0' }), 'signal'],
    [() => h.machines.restart(APP, m.id, { signal: 'SIGFOO' }), 'signal'],
    [() => h.lifecycle.stopInstance(m, { signal: 'SIG0', source: 'user' }), 'signal'],
    [() => h.machines.update(APP, m.id, { config: config(['sleep', '30'], { stop_config: { signal: 'SIG0', timeout: '1s' } }) }), 'config.stop_config.signal'],
    [() => h.machines.create(APP, { config: config(['sleep', '30'], { stop_config: { signal: 'KILL', timeout: '1s' } }) }), 'config.stop_config.signal'],
  ] as const) {
    await assert.rejects(call(), (err: unknown) => err instanceof UserError && err.code === 'invalid_input' && err.kind === 'invalid' && err.details[0]?.path === path);
  }
  const now = await h.get(m.id);
  assert.equal(now.state, 'started');
  assert.equal(now.instanceId, m.instanceId, 'the update was refused before a new instance was stored');
  assert.equal(await h.pidOf(refOf(m)), pid, 'the instance was never touched');
  assert.equal((await h.machines.list(APP)).length, 1, 'the refused create made nothing');
  assert.equal((await h.machines.stop(APP, m.id, { signal: 'SIGTERM' })).state, 'stopped');
  assert.equal((await h.machines.destroy(APP, m.id, false)).state, 'destroyed');
});

test('stop: the runtime fails before the signal goes out; the machine is back to started and the next stop works', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = (await h.pidOf(refOf(m)))!;
  const cause = eperm();
  h.driver.failNext('stop', cause);
  await assert.rejects(h.machines.stop(APP, m.id, {}), isRuntimeFailure(cause));
  const now = await h.get(m.id);
  assert.equal(now.state, 'started');
  assert.equal(now.port, m.port, 'it keeps its port');
  assert.ok(alive(pid));
  const ev = await lastEvent(h, m.id);
  assert.deepEqual([ev.type, ev.status], ['stop', 'failed']);
  assert.match(ev.message ?? '', /kill EPERM; the instance is still running/);
  assert.equal((await h.machines.stop(APP, m.id, {})).state, 'stopped');
  assert.equal(alive(pid), false);
  assert.equal((await h.machines.destroy(APP, m.id, false)).state, 'destroyed');
});

test('stop: the runtime ends the instance but then fails; the machine is stopped and starts again', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const cause = new Error('lost track of the exit');
  h.driver.failNext('stop', cause, { after: true });
  await assert.rejects(h.machines.stop(APP, m.id, {}), isRuntimeFailure(cause));
  assert.equal((await h.get(m.id)).state, 'stopped');
  assert.equal(await h.pidOf(refOf(m)), undefined);
  assert.equal((await h.machines.start(APP, m.id)).state, 'started');
  assert.ok(await h.pidOf(refOf(m)));
});

test('stop: a runtime that cannot be asked leaves the machine as it was, and it can still be destroyed', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = (await h.pidOf(refOf(m)))!;
  const cause = new Error('engine went away');
  h.driver.failNext('stop', cause);
  h.driver.failNext('status', new Error('engine went away'));
  await assert.rejects(h.machines.stop(APP, m.id, {}), isRuntimeFailure(cause));
  assert.equal((await h.get(m.id)).state, 'started');
  assert.match((await lastEvent(h, m.id)).message ?? '', /could not say whether the instance runs/);
  assert.equal((await h.machines.destroy(APP, m.id, true)).state, 'destroyed');
  assert.equal(alive(pid), false);
});

test('start: a runtime failure leaves the machine failed with its port released; a start after that works', async (t) => {
  const h = await harness(t);
  const m = await h.create(['sleep', '30'], { skipLaunch: true });
  const cause = errno('EAGAIN', 'spawn');
  h.driver.failNext('start', cause);
  await assert.rejects(h.machines.start(APP, m.id), isRuntimeFailure(cause));
  const failed = await h.get(m.id);
  assert.equal(failed.state, 'failed');
  assert.match((await lastEvent(h, m.id)).message ?? '', /spawn EAGAIN; the instance is not running/);
  assert.equal((await h.machines.start(APP, m.id)).state, 'started');
});

test('start: an instance that already runs (a stop that failed half-way, under a state that says otherwise) is adopted, not started twice', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = await h.pidOf(refOf(m));
  for (const stale of ['failed', 'stopping', 'starting'] as const) {
    await h.lifecycle.save(await h.get(m.id), { state: stale });
    const started = await h.machines.start(APP, m.id);
    assert.equal(started.state, 'started', `from ${stale}`);
    assert.equal(await h.pidOf(refOf(m)), pid, `from ${stale}: the same process`);
  }
  const restarted = await h.machines.restart(APP, m.id, {});
  assert.equal(restarted.state, 'started');
  assert.notEqual(await h.pidOf(refOf(m)), pid, 'a restart does start a new process');
});

test('destroy: removal failing half-way leaves the machine stopped; the next destroy works', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  await h.machines.stop(APP, m.id, {});
  const cause = errno('EBUSY', 'rmdir');
  h.driver.failNext('removeMachine', cause);
  await assert.rejects(h.machines.destroy(APP, m.id, false), isRuntimeFailure(cause));
  assert.equal((await h.get(m.id)).state, 'stopped');
  assert.equal((await h.machines.destroy(APP, m.id, false)).state, 'destroyed');
  assert.equal(existsSync(join(h.root, m.id)), false);
});

test('destroy --force: a kill that fails leaves the machine started; the next forced destroy kills it', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = (await h.pidOf(refOf(m)))!;
  const cause = eperm();
  h.driver.failNext('stop', cause);
  await assert.rejects(h.machines.destroy(APP, m.id, true), isRuntimeFailure(cause));
  assert.equal((await h.get(m.id)).state, 'started');
  assert.ok(alive(pid));
  assert.equal((await h.machines.destroy(APP, m.id, true)).state, 'destroyed');
  assert.equal(alive(pid), false);
});

test('destroy --force: once nothing runs, files that cannot be removed do not stop it; the next daemon start removes them', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = (await h.pidOf(refOf(m)))!;
  h.driver.failNext('removeMachine', errno('EPERM', 'rmdir'));
  const destroyed = await h.machines.destroy(APP, m.id, true);
  assert.equal(destroyed.state, 'destroyed');
  assert.equal(alive(pid), false);
  assert.match((await lastEvent(h, m.id)).message ?? '', /could not be removed \(rmdir EPERM\); they are removed at the next daemon start/);
  assert.ok(existsSync(join(h.root, m.id)), 'the files are still there');
  const next = await h.restart();
  await reconcile({ state: h.state, lifecycle: next.lifecycle, ports: new PortAllocator(), log: pino({ level: 'silent' }), hostId: TEST_HOST }, ['process']);
  assert.equal(existsSync(join(h.root, m.id)), false, 'removed at the next start');
  assert.equal((await h.get(m.id)).state, 'destroyed', 'and the machine stays destroyed');
});

test('destroy --force: an instance a failed update left running is killed along with the current one', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const oldPid = (await h.pidOf(refOf(m)))!;
  // The surge switches to the new instance, but the old one will not stop, not even with SIGKILL.
  h.driver.failNext('stop', eperm(), { times: 2 });
  const switched = await h.machines.surgeUpdate(APP, m.id, { config: config(['sleep', '31']) }, undefined, async () => {});
  assert.equal(switched.state, 'started');
  assert.notEqual(switched.instanceId, m.instanceId);
  assert.ok(alive(oldPid), 'the old instance still runs');
  const ev = await lastEvent(h, m.id);
  assert.deepEqual([ev.type, ev.status], ['update', 'warning']);
  const newPid = (await h.pidOf(refOf(switched)))!;
  assert.equal((await h.machines.destroy(APP, m.id, true)).state, 'destroyed');
  assert.equal(alive(oldPid), false);
  assert.equal(alive(newPid), false);
});

test('update in place: an old instance that will not stop undoes the update; the next update works', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  const pid = (await h.pidOf(refOf(m)))!;
  const cause = eperm();
  h.driver.failNext('stop', cause);
  await assert.rejects(h.machines.update(APP, m.id, { config: config(['sleep', '31']) }), isRuntimeFailure(cause));
  const undone = await h.get(m.id);
  assert.equal(undone.state, 'started');
  assert.equal(undone.instanceId, m.instanceId, 'back on the old instance');
  assert.deepEqual(undone.config.init.cmd, ['sleep', '30'], 'and the old config');
  assert.ok(alive(pid));
  const updated = await h.machines.update(APP, m.id, { config: config(['sleep', '31']) });
  assert.equal(updated.state, 'started');
  assert.notEqual(updated.instanceId, m.instanceId);
  assert.equal(alive(pid), false);
});

test('update in place: an old instance that stopped but could not be removed does not hold the update up', async (t) => {
  const h = await harness(t);
  const m = await h.create();
  h.driver.failNext('remove', errno('EBUSY', 'rmdir'));
  const updated = await h.machines.update(APP, m.id, { config: config(['sleep', '31']) });
  assert.equal(updated.state, 'started');
  assert.deepEqual(updated.config.init.cmd, ['sleep', '31']);
  assert.equal(await h.pidOf(refOf(m)), undefined, 'the old instance is gone');
});

test('restart policy: a restart the runtime fails leaves the machine failed; a start after that works', async (t) => {
  const h = await harness(t);
  const flag = join(h.root, '..', 'ran-once');
  // Crashes on its first run only.
  const m = await h.create(['sh', '-c', `test -f ${flag} && exec sleep 30; touch ${flag}; exit 1`], { restart: { policy: 'on-failure', max_retries: 3 }, skipLaunch: true });
  const cause = errno('EAGAIN', 'spawn');
  await h.machines.start(APP, m.id);
  h.driver.failNext('start', cause);
  const failed = await h.waitForState(m.id, 'failed');
  assert.equal(failed.lastExitCode, 1);
  assert.match((await lastEvent(h, m.id)).message ?? '', /start failed: spawn EAGAIN/);
  assert.equal((await h.machines.start(APP, m.id)).state, 'started');
  assert.ok(await h.pidOf(refOf(m)));
});

test('reconcile: machines a dead daemon left stopping, destroying, starting or replacing are driven to true states', async (t) => {
  const h = await harness(t);
  const stopping = await h.create();
  const destroying = await h.create();
  const starting = await h.create();
  const replacing = await h.create(['sleep', '30'], { skipLaunch: true });
  const pids = { stopping: (await h.pidOf(refOf(stopping)))!, destroying: (await h.pidOf(refOf(destroying)))!, starting: (await h.pidOf(refOf(starting)))! };
  await h.lifecycle.save(stopping, { state: 'stopping' });
  await h.lifecycle.save(destroying, { state: 'destroying' });
  await h.lifecycle.save(starting, { state: 'starting' });
  await h.lifecycle.save(replacing, { state: 'replacing' });
  const next = await h.restart();
  await reconcile({ state: h.state, lifecycle: next.lifecycle, ports: new PortAllocator(), log: pino({ level: 'silent' }), hostId: TEST_HOST }, ['process']);
  assert.equal((await h.get(stopping.id)).state, 'stopped');
  assert.equal(alive(pids.stopping), false);
  assert.equal((await h.get(destroying.id)).state, 'destroyed');
  assert.equal(alive(pids.destroying), false);
  assert.equal(existsSync(join(h.root, destroying.id)), false);
  assert.equal((await h.get(starting.id)).state, 'started');
  assert.equal(await h.pidOf(refOf(starting)), pids.starting, 'a live instance is adopted, not started again');
  assert.equal((await h.get(replacing.id)).state, 'started');
  assert.ok(await h.pidOf(refOf(replacing)));
});

test('reconcile: a stop the runtime fails after a daemon restart settles on what the runtime reports, and other machines still recover', async (t) => {
  const h = await harness(t);
  const a = await h.create();
  const b = await h.create();
  await h.lifecycle.save(a, { state: 'stopping' });
  await h.lifecycle.save(b, { state: 'stopping' });
  const next = await h.restart();
  next.driver.failNext('stop', eperm());
  await reconcile({ state: h.state, lifecycle: next.lifecycle, ports: new PortAllocator(), log: pino({ level: 'silent' }), hostId: TEST_HOST }, ['process']);
  const states = [(await h.get(a.id)).state, (await h.get(b.id)).state].sort();
  assert.deepEqual(states, ['started', 'stopped'], 'the failed one is started (its instance runs), the other stopped');
});

test('app destroy --force: a machine that cannot be destroyed yet does not keep the others; the app goes once it can', async (t) => {
  const h = await harness(t);
  const a = await h.create();
  const b = await h.create();
  const cause = eperm();
  h.driver.failNext('stop', cause);
  await assert.rejects(h.apps.destroy(APP, true), isRuntimeFailure(cause));
  const left = await h.machines.list(APP);
  assert.equal(left.length, 1, 'one machine destroyed, one left');
  assert.equal(left[0]!.state, 'started');
  assert.ok([a.id, b.id].includes(left[0]!.id));
  await h.apps.destroy(APP, true);
  assert.equal(await h.state.apps.byName(APP), undefined);
});
