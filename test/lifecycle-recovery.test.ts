import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { describeEndpoint, EngineClient, engineEndpoint } from '../src/runtime/docker/engine.js';
import { busyboxImage } from './fixtures/docker/busybox-image.js';
import { engineSocketProxy } from './fixtures/docker/engine-proxy.js';
import { echoConfig, get, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

type Ev = { type: string; status: string; source: string; message?: string };
type M = { id: string; state: string; instance_id: string; address: string | null; runtime: string; events: Ev[] };

const machine = async (d: TestDaemon, app: string, id: string) => (await d.api('GET', `/v1/apps/${app}/machines/${id}`)).body as M;
const events = async (d: TestDaemon, app: string, id: string) => (await d.api('GET', `/v1/apps/${app}/machines/${id}/events`)).body as Ev[];

/** The pid the process runtime recorded for a machine's instance (its process group). */
function instancePid(d: TestDaemon, m: Pick<M, 'id' | 'instance_id'>): number {
  return JSON.parse(readFileSync(join(d.home, 'machines', m.id, m.instance_id, 'instance.json'), 'utf8')).pid as number;
}

/**
 * True while a process of the group runs. Read from /proc rather than asked with kill(-pgid, 0): an
 * orphan killed with its group stays a zombie where PID 1 does not reap, and a zombie runs nothing.
 */
function groupAlive(pgid: number): boolean {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/** An echo app machine that serves (its SIGINT handler is installed once it answers), and its image. */
async function servingMachine(d: TestDaemon, app: string): Promise<M & { image: string }> {
  await d.api('POST', '/v1/apps', { app_name: app });
  const image = await uploadEcho(d, app);
  const created = await d.api('POST', `/v1/apps/${app}/machines`, { config: echoConfig(image) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const m = created.body as M;
  await waitUntil(async () => (await get(`http://${m.address}/`)).status === 200, 10_000, 'the app to answer');
  return { ...m, image };
}

/** The request was refused with a 400 naming `field` (the schema's `body.` prefix or not). */
function assertNamesField(res: { status: number; body: { code: string; details: Array<{ path: string }> } }, field: string): void {
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.code, 'invalid_input');
  assert.ok(res.body.details.some((x) => x.path === field || x.path === `body.${field}`), JSON.stringify(res.body.details));
}

test('an unknown signal is a 400 naming the field; the machine stays started and serving, and stop and destroy work', async (t) => {
  const d = await startDaemon(t);
  const m = await servingMachine(d, 'sig');
  const base = `/v1/apps/sig/machines/${m.id}`;
  const pid = instancePid(d, m);
  assertNamesField(await d.api('POST', `${base}/stop`, { signal: 'SIG0' }), 'signal');
  assertNamesField(await d.api('POST', `${base}/restart`, { signal: 'SIGNOPE' }), 'signal');
  const image = m.image;
  assertNamesField(await d.api('POST', '/v1/apps/sig/machines', { config: echoConfig(image, { stop_config: { signal: 'SIG0', timeout: '1s' } }) }), 'config.stop_config.signal');
  assertNamesField(await d.api('POST', base, { config: echoConfig(image, { stop_config: { signal: 'SIG0', timeout: '1s' } }) }), 'config.stop_config.signal');

  const after = await machine(d, 'sig', m.id);
  assert.equal(after.state, 'started');
  assert.equal(after.instance_id, m.instance_id);
  assert.ok(!after.events.some((e) => e.type === 'stop'), 'no stop was begun');
  assert.equal((await get(`http://${m.address}/`)).status, 200, 'still serving');
  assert.ok(groupAlive(pid));
  assert.equal(((await d.api('GET', '/v1/apps/sig/machines')).body as M[]).length, 1, 'the refused create made nothing');

  const stopped = await d.api('POST', `${base}/stop`, { signal: 'SIGTERM' });
  assert.equal(stopped.status, 200);
  assert.equal(stopped.body.state, 'stopped');
  assert.equal(groupAlive(pid), false);
  assert.equal((await d.api('DELETE', base)).body.state, 'destroyed');
  assert.equal((await d.api('DELETE', '/v1/apps/sig?force=true')).status, 202);
});

test('the target is looked up before the config: an unknown app or machine is a 404 whatever the image', async (t) => {
  const d = await startDaemon(t);
  const noApp = await d.api('POST', '/v1/apps/nosuchapp/machines/nosuch', { config: { image: 'nowhere-at-all:1' } });
  assert.equal(noApp.status, 404, JSON.stringify(noApp.body));
  assert.equal(noApp.body.code, 'app_not_found');
  await d.api('POST', '/v1/apps', { app_name: 'look' });
  const noMachine = await d.api('POST', '/v1/apps/look/machines/ffffffffffffff', { config: { image: 'nowhere-at-all:1', stop_config: { signal: 'SIG0', timeout: '1s' } } });
  assert.equal(noMachine.status, 404, JSON.stringify(noMachine.body));
  assert.equal(noMachine.body.code, 'machine_not_found');
});

test('an instance killed out from under the daemon just before a stop: the stop ends stopped, and destroy and app destroy --force work', async (t) => {
  const d = await startDaemon(t);
  const m = await servingMachine(d, 'gone');
  const pid = instancePid(d, m);
  process.kill(-pid, 'SIGKILL');
  const stopped = await d.api('POST', `/v1/apps/gone/machines/${m.id}/stop`, {});
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  assert.equal(stopped.body.state, 'stopped');
  const now = await machine(d, 'gone', m.id);
  assert.equal(now.state, 'stopped');
  assert.equal(groupAlive(instancePid(d, now)), false, 'nothing of it runs (not even a restart)');
  assert.equal((await d.api('DELETE', `/v1/apps/gone/machines/${m.id}`)).body.state, 'destroyed');
  const second = await servingMachine(d, 'gone2');
  process.kill(-instancePid(d, second), 'SIGKILL');
  assert.equal((await d.api('DELETE', '/v1/apps/gone2?force=true')).status, 202);
  assert.equal((await d.api('GET', '/v1/apps/gone2')).status, 404);
});

// The instance directory made immutable: even root cannot remove it, as with a file system gone read-only.
const probe = mkdtempSync(join(tmpdir(), 'hangar-chattr-'));
const immutable = spawnSync('chattr', ['+i', probe]).status === 0;
spawnSync('chattr', ['-i', probe]);
rmSync(probe, { recursive: true, force: true });

test(
  'a destroy whose removal fails half-way: the machine stays stopped with the error reported; destroy --force succeeds once nothing runs, and the next daemon removes the files',
  { skip: immutable ? false : 'chattr +i does not work here (needs root, CAP_LINUX_IMMUTABLE and a file system that supports it)' },
  async (t) => {
    const d = await startDaemon(t);
    const m = await servingMachine(d, 'stuck');
    const dir = join(d.home, 'machines', m.id, m.instance_id);
    assert.equal(spawnSync('chattr', ['+i', dir]).status, 0);
    t.after(() => spawnSync('chattr', ['-i', dir]));
    const base = `/v1/apps/stuck/machines/${m.id}`;
    assert.equal((await d.api('POST', `${base}/stop`, {})).body.state, 'stopped');

    const refused = await d.api('DELETE', base);
    assert.equal(refused.status, 500, JSON.stringify(refused.body));
    assert.equal(refused.body.code, 'internal');
    assert.match(refused.body.error, new RegExp(`^RuntimeFailure: destroy of machine ${m.id} failed: \\S+`));
    const after = await machine(d, 'stuck', m.id);
    assert.equal(after.state, 'stopped', 'not left destroying');
    assert.deepEqual([after.events[0]!.type, after.events[0]!.status], ['destroy', 'failed']);
    assert.match(after.events[0]!.message ?? '', /the instance is not running/);
    // The same directory stops a start (the instance's files cannot be renewed): reported, and failed is the truth.
    const start = await d.api('POST', `${base}/start`);
    assert.equal(start.status, 500, JSON.stringify(start.body));
    assert.match(start.body.error, new RegExp(`^RuntimeFailure: start of machine ${m.id} failed: `));
    assert.equal((await machine(d, 'stuck', m.id)).state, 'failed');
    assert.equal(groupAlive(instancePid(d, m)), false);

    assert.equal((await d.api('DELETE', '/v1/apps/stuck?force=true')).status, 202);
    assert.equal((await d.api('GET', '/v1/apps/stuck')).status, 404);
    assert.ok(existsSync(dir), 'the immutable directory is still there');

    spawnSync('chattr', ['-i', dir]);
    await d.stop();
    await d.restart();
    assert.equal(existsSync(join(d.home, 'machines', m.id)), false, 'the next daemon removed what the destroyed machine left');
  },
);

test('a daemon killed (kill -9) while a machine is stopping: the next daemon finishes the stop', async (t) => {
  const d = await startDaemon(t);
  const m = await servingMachine(d, 'midstop');
  const pid = instancePid(d, m);
  // The app ignores SIGWINCH, so this stop waits its full minute for the SIGKILL: the daemon dies first.
  const inFlight = d.api('POST', `/v1/apps/midstop/machines/${m.id}/stop`, { signal: 'SIGWINCH', timeout: '60s' }).catch(() => undefined);
  await waitUntil(async () => (await machine(d, 'midstop', m.id)).state === 'stopping', 10_000, 'the machine to be stopping');
  await d.kill9();
  await inFlight;
  assert.ok(groupAlive(pid), 'the instance outlived the daemon');
  const d2 = await d.restart();
  const now = await machine(d2, 'midstop', m.id);
  assert.equal(now.state, 'stopped');
  assert.equal(groupAlive(pid), false);
  const evs = await events(d2, 'midstop', m.id);
  assert.deepEqual([evs[0]!.type, evs[0]!.status, evs[0]!.source], ['exit', 'stopped', 'hangar']);
  assert.equal((await d2.api('DELETE', `/v1/apps/midstop/machines/${m.id}`)).body.state, 'destroyed');
  assert.equal((await d2.api('DELETE', '/v1/apps/midstop?force=true')).status, 202);
});

const engine = new EngineClient(engineEndpoint());
const engineAnswers = await engine.ping();
const noEngine = engineAnswers ? (existsSync('/bin/busybox') ? false : '/bin/busybox is missing (apt-get install busybox-static)') : `no Docker Engine at ${describeEndpoint(engine.endpoint)} (start dockerd --bridge=none to run these)`;

test('Docker: an image the engine does not have is a 404 image_not_found, a name it refuses a 400 invalid_image_ref', { skip: engineAnswers ? false : `no Docker Engine at ${describeEndpoint(engine.endpoint)}` }, async (t) => {
  // HANGAR_DOCKER_PULL=never (the test default): the engine's answer is the whole story, no registry is asked.
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'noimg' });
  const missing = await d.api('POST', '/v1/apps/noimg/machines', { config: { image: 'hangar-test/never-built:1' } });
  assert.equal(missing.status, 404, JSON.stringify(missing.body));
  assert.equal(missing.body.code, 'image_not_found');
  assert.match(missing.body.error, /the Docker Engine does not have it/);
  assert.ok(missing.body.hint);
  const refused = await d.api('POST', '/v1/apps/noimg/machines', { config: { image: '[::1]:5000/x:1' } });
  assert.equal(refused.status, 400, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'invalid_image_ref');
  assert.match(refused.body.error, /the Docker Engine does not accept the name \[::1\]:5000\/x:1: invalid reference format/);
  assert.deepEqual((await d.api('GET', '/v1/apps/noimg/machines')).body, []);
});

const TAG = { repo: 'hangar-test/lifecycle-busybox', tag: '1' };

test('Docker: the engine going away mid-stop is a 503 and leaves the machine started; once it answers, stop, destroy and app destroy work', { skip: noEngine }, async (t) => {
  const sockDir = mkdtempSync(join(tmpdir(), 'hangar-engine-'));
  const target = engine.endpoint.kind === 'unix' ? engine.endpoint.socketPath : '';
  const proxy = await engineSocketProxy(join(sockDir, 'docker.sock'), target);
  t.after(async () => {
    await proxy.close();
    rmSync(sockDir, { recursive: true, force: true });
  });
  const image = await busyboxImage(engine);
  await engine.text('POST', `/images/${encodeURIComponent(image.ref)}/tag`, { query: TAG });
  const containers = () => engine.json<Array<{ Id: string; State: string }>>('GET', '/containers/json', { query: { all: 1, filters: JSON.stringify({ label: ['hangar.app=lcdock'] }) } });
  t.after(async () => {
    for (const c of await containers().catch(() => [])) await engine.text('DELETE', `/containers/${c.Id}`, { query: { force: true } }).catch(() => {});
    await engine.text('DELETE', `/images/${encodeURIComponent(`${TAG.repo}:${TAG.tag}`)}`).catch(() => {});
  });
  const d = await startDaemon(t, { env: { DOCKER_HOST: `unix://${join(sockDir, 'docker.sock')}` } });
  t.after(() => proxy.back().catch(() => {})); // the engine must answer while the daemon's cleanup runs
  await d.api('POST', '/v1/apps', { app_name: 'lcdock' });
  const created = await d.api('POST', '/v1/apps/lcdock/machines', { config: { image: `${TAG.repo}:${TAG.tag}`, init: { cmd: ['/bin/busybox', 'sleep', '600'] } } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const m = created.body as M;
  assert.equal(m.runtime, 'docker');
  const base = `/v1/apps/lcdock/machines/${m.id}`;

  await proxy.away();
  const stop = await d.api('POST', `${base}/stop`, {});
  assert.equal(stop.status, 503, JSON.stringify(stop.body));
  assert.equal(stop.body.code, 'docker_unavailable');
  assert.equal((await machine(d, 'lcdock', m.id)).state, 'started', 'not left stopping');
  const appGone = await d.api('DELETE', '/v1/apps/lcdock?force=true');
  assert.equal(appGone.status, 503, JSON.stringify(appGone.body));
  assert.equal((await machine(d, 'lcdock', m.id)).state, 'started', 'not left destroying');
  assert.deepEqual((await containers()).map((c) => c.State), ['running'], 'the container ran on all along');

  await proxy.back();
  const stopped = await d.api('POST', `${base}/stop`, {});
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  assert.equal(stopped.body.state, 'stopped');
  assert.equal((await d.api('POST', `${base}/start`)).body.state, 'started');
  assert.equal((await d.api('DELETE', '/v1/apps/lcdock?force=true')).status, 202);
  assert.deepEqual(await containers(), [], 'nothing left on the engine');
});
