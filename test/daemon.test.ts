import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BIN, echoConfig, get, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

async function appPid(d: TestDaemon, id: string): Promise<number> {
  const m = (await d.api('GET', `/v1/apps/echo/machines/${id}`)).body;
  let pid = 0;
  await waitUntil(async () => {
    pid = JSON.parse((await get(`http://${m.address}/env`)).text).pid;
    return pid > 0;
  }, 10_000, `machine ${id} to answer`);
  return pid;
}

test('kill -9 of the daemon: machines keep running; the next daemon adopts the live ones and settles the dead ones', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const mk = async (policy: string) => (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { restart: { policy } }) })).body.id as string;
  const [live, diesNo, diesOnFailure] = [await mk('on-failure'), await mk('no'), await mk('on-failure')];
  const livePid = await appPid(d, live);
  const pidNo = await appPid(d, diesNo);
  const pidOnFailure = await appPid(d, diesOnFailure);

  await d.kill9();
  assert.equal((await get(`http://${(await portOf(d, live))}/`).catch(() => ({ status: 0 }))).status, 0, 'no API while the daemon is down');
  // While no daemon watches: one machine is terminated, another killed.
  process.kill(pidNo, 'SIGTERM');
  process.kill(pidOnFailure, 'SIGKILL');
  await waitUntil(() => !alive(pidNo) && !alive(pidOnFailure), 5000, 'the app processes to die');

  const d2 = await d.restart();
  const m1 = (await d2.api('GET', `/v1/apps/echo/machines/${live}`)).body;
  assert.equal(m1.state, 'started');
  assert.equal(await appPid(d2, live), livePid, 'the live machine was adopted, not started again');

  const m2 = (await d2.api('GET', `/v1/apps/echo/machines/${diesNo}`)).body;
  assert.equal(m2.state, 'stopped', 'restart policy "no": a machine that died stays stopped');
  const exit = m2.events.find((e: { type: string }) => e.type === 'exit');
  assert.equal(exit.request.exit_event.exit_code, 143, 'its exit code was recorded even though no daemon saw it die');

  assert.equal((await d2.api('GET', `/v1/apps/echo/machines/${diesOnFailure}/wait?state=started&timeout=10`)).status, 200);
  const pid3 = await appPid(d2, diesOnFailure);
  assert.notEqual(pid3, pidOnFailure, 'on-failure: the killed machine was restarted');
  const list = (await d2.api('GET', '/v1/apps/echo/machines')).body;
  assert.equal(list.length, 3, 'no duplicates');
});

async function portOf(d: TestDaemon, id: string): Promise<string> {
  return (await d.api('GET', `/v1/apps/echo/machines/${id}`).catch(() => ({ body: { address: '127.0.0.1:1' } }))).body.address;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function server(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [BIN, 'server', ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
}

test('one owner per HANGAR_HOME: a second daemon refuses', async (t) => {
  const d = await startDaemon(t);
  const r = server(['--state-dir', d.home, '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /another hangar daemon \(pid \d+\) already owns/);
  assert.match(r.stderr, /hint:/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('a taken --listen port, an unwritable HANGAR_HOME and a bad HANGAR_PROXY_PACKING are one clear line each', async (t) => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
  t.after(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const home = mkdtempSync(join(tmpdir(), 'hangar-test-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const r = server(['--state-dir', home, '--listen', `127.0.0.1:${port}`, '--proxy-listen', '127.0.0.1:0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`cannot listen on 127.0.0.1:${port}: address already in use`));
  assert.match(r.stderr, /--listen/);

  const file = join(home, 'a-file');
  writeFileSync(file, '');
  const r2 = server(['--state-dir', join(file, 'sub'), '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0']);
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /is not writable/);
  assert.match(r2.stderr, /hint: point HANGAR_HOME/);

  const r3 = server(['--state-dir', home, '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0'], { HANGAR_PROXY_PACKING: 'fast' });
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /^Error: HANGAR_PROXY_PACKING: expected "off" or key:value pairs of packBelow, settleMs, homeBusy, busy, idle \(numbers ≥ 0\), got "fast"\nhint: /);
});

test('SIGTERM stops the daemon gracefully and leaves machines running', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const id = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image) })).body.id;
  const pid = await appPid(d, id);
  await d.stop();
  assert.equal(d.proc.exitCode, 0);
  assert.ok(alive(pid), 'the machine outlives the daemon');
  const d2 = await d.restart();
  assert.equal(await appPid(d2, id), pid);
});
