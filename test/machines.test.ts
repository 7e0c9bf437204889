import assert from 'node:assert/strict';
import { rmSync, chmodSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { echoConfig, get, startDaemon, uploadEcho, waitUntil } from './helpers.js';

test('a machine runs its command in its image with PORT and the Fly variables', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const created = await d.api('POST', '/v1/apps/echo/machines', { region: 'dfw', config: echoConfig(image, { metadata: { fly_process_group: 'web' } }) });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const m = created.body;
  assert.equal(m.state, 'started');
  assert.match(m.id, /^[0-9a-f]{14}$/);
  assert.equal(m.region, 'dfw');
  assert.deepEqual(Object.keys(m.image_ref).sort(), ['digest', 'registry', 'repository', 'tag']);
  assert.match(m.image_ref.digest, /^sha256:[0-9a-f]{64}$/);
  assert.match(m.address, /^127\.0\.0\.1:\d+$/);
  await waitUntil(async () => (await get(`http://${m.address}/`)).status === 200, 10_000, 'the app to answer');
  const env = JSON.parse((await get(`http://${m.address}/env`)).text).env;
  assert.equal(env.PORT, String(m.port));
  assert.equal(env.FLY_APP_NAME, 'echo');
  assert.equal(env.FLY_MACHINE_ID, m.id);
  assert.equal(env.FLY_REGION, 'dfw');
  assert.equal(env.FLY_PROCESS_GROUP, 'web');
  assert.equal(env.HANGAR_MACHINE_ID, m.id);
  assert.equal(env.FLY_IMAGE_REF, `${m.image_ref.registry}/${m.image_ref.repository}:${m.image_ref.tag}`);
  assert.equal(env.PRIMARY_REGION, 'dfw');
  assert.equal(env.MESSAGE, 'hi');
  assert.equal(env.HANGAR_API_TOKEN, undefined, 'the daemon env does not leak');
  // Bad inputs on this machine
  assert.equal((await d.api('GET', '/v1/apps/echo/machines/ffffffffffffff')).status, 404);
  const noImage = await d.api('POST', '/v1/apps/echo/machines', { config: { env: { A: 1 } } });
  assert.equal(noImage.status, 400);
  assert.deepEqual(noImage.body.details.map((x: { path: string }) => x.path).sort(), ['body.config.env.A', 'body.config.image']);
  const unknownImage = await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig('echo:nope') });
  assert.equal(unknownImage.status, 404);
  assert.equal(unknownImage.body.code, 'image_not_found');
});

test('lifecycle: stop, start, restart, update, cordon, destroy (force), and the events of each', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const m = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image) })).body;
  const base = `/v1/apps/echo/machines/${m.id}`;
  // Until the app has installed its SIGINT handler, a stop would kill it (exit 130): wait for it to serve.
  await waitUntil(async () => (await get(`http://${m.address}/`)).status === 200, 10_000, 'the app to answer');

  const stopped = await d.api('POST', `${base}/stop`, {});
  assert.equal(stopped.body.state, 'stopped');
  assert.equal(stopped.body.address, null);
  const exit = stopped.body.events.find((e: { type: string }) => e.type === 'exit');
  assert.equal(exit.request.exit_event.exit_code, 0, 'the app handled SIGINT and exited 0');

  const wait = await d.api('GET', `${base}/wait?state=started&timeout=1`);
  assert.equal(wait.status, 408);
  assert.equal(wait.body.code, 'wait_timeout');

  const started = await d.api('POST', `${base}/start`);
  assert.equal(started.body.state, 'started');
  assert.equal(started.body.instance_id, m.instance_id, 'a start keeps the instance');

  const updated = await d.api('POST', base, { config: echoConfig(image, { env: { MESSAGE: 'updated' } }) });
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.equal(updated.body.state, 'started');
  assert.notEqual(updated.body.instance_id, m.instance_id, 'an update makes a new instance');
  assert.equal(updated.body.id, m.id);
  await waitUntil(async () => (await get(`http://${updated.body.address}/`)).text.includes('updated'));

  const cordoned = await d.api('POST', `${base}/cordon`);
  assert.equal(cordoned.body.cordoned, true);
  assert.equal((await d.api('POST', `${base}/uncordon`)).body.cordoned, false);

  const refuse = await d.api('DELETE', base);
  assert.equal(refuse.status, 412);
  assert.equal(refuse.body.code, 'machine_running');
  const destroyed = await d.api('DELETE', `${base}?force=true`);
  assert.equal(destroyed.body.state, 'destroyed');
  const again = await d.api('POST', `${base}/start`);
  assert.equal(again.status, 412);
  assert.equal(again.body.code, 'machine_destroyed');
  assert.deepEqual((await d.api('GET', '/v1/apps/echo/machines')).body, []);
  const types = (await d.api('GET', `${base}/events`)).body.map((e: { type: string; status: string }) => `${e.type}:${e.status}`);
  for (const want of ['launch:created', 'start:started', 'stop:stopping', 'exit:stopped', 'update:replacing', 'cordon:started', 'destroy:destroyed']) {
    assert.ok(types.includes(want), `events include ${want}: ${types.join(', ')}`);
  }
});

test('leases: a mutating call without the nonce gets 409 naming the holder', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const m = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image), skip_launch: true })).body;
  const base = `/v1/apps/echo/machines/${m.id}`;
  const lease = await d.api('POST', `${base}/lease`, { ttl: 30, description: 'deploy v7' }, { 'hangar-lease-owner': 'alice' });
  assert.equal(lease.status, 201);
  const nonce = lease.body.nonce;
  const other = await d.api('POST', `${base}/lease`, { ttl: 30 });
  assert.equal(other.status, 409);
  const blocked = await d.api('POST', `${base}/start`);
  assert.equal(blocked.status, 409);
  assert.equal(blocked.body.code, 'lease_held');
  assert.match(blocked.body.error, /alice/);
  assert.match(blocked.body.error, /expires at \d{4}-/);
  const refreshed = await d.api('POST', `${base}/lease`, { ttl: 60 }, { 'fly-machine-lease-nonce': nonce });
  assert.equal(refreshed.status, 201);
  assert.equal(refreshed.body.nonce, nonce);
  const allowed = await d.api('POST', `${base}/start`, undefined, { 'fly-machine-lease-nonce': nonce });
  assert.equal(allowed.body.state, 'started');
  assert.equal((await d.api('DELETE', `${base}/lease`)).status, 409, 'release needs the nonce');
  assert.equal((await d.api('DELETE', `${base}/lease`, undefined, { 'fly-machine-lease-nonce': nonce })).status, 200);
  assert.equal((await d.api('POST', `${base}/stop`, {})).body.state, 'stopped');
});

test('restart policy: a crash loop backs off then fails; exit 0 under on-failure stops; every exit code is recorded', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const crash = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { env: { BEHAVIOR: 'crash' }, restart: { policy: 'on-failure', max_retries: 3 } }) })).body;
  assert.equal((await d.api('GET', `/v1/apps/echo/machines/${crash.id}/wait?state=failed&timeout=20`)).status, 200);
  const events = (await d.api('GET', `/v1/apps/echo/machines/${crash.id}/events`)).body;
  const exits = events.filter((e: { type: string }) => e.type === 'exit');
  assert.equal(exits.length, 4, 'three restarts, then it gives up');
  assert.ok(exits.every((e: { request: { exit_event: { exit_code: number } } }) => e.request.exit_event.exit_code === 1));
  assert.equal(exits[0].status, 'failed');
  assert.match(exits[0].message, /crash loop/);

  const clean = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { env: { BEHAVIOR: 'exit0' } }) })).body;
  assert.equal((await d.api('GET', `/v1/apps/echo/machines/${clean.id}/wait?state=stopped&timeout=20`)).status, 200);
  const cleanExit = (await d.api('GET', `/v1/apps/echo/machines/${clean.id}/events`)).body.find((e: { type: string }) => e.type === 'exit');
  assert.equal(cleanExit.request.exit_event.exit_code, 0);

  const always = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { env: { BEHAVIOR: 'exit0' }, restart: { policy: 'always', max_retries: 2 } }) })).body;
  assert.equal((await d.api('GET', `/v1/apps/echo/machines/${always.id}/wait?state=failed&timeout=20`)).status, 200, 'always restarts clean exits too, and a quick loop still ends failed');
});

test('an image whose content vanished from the store is a clear error on start', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const m = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image), skip_launch: true })).body;
  const shaDir = join(d.home, 'images', 'sha256');
  for (const dgst of readdirSync(shaDir)) {
    chmodSync(join(shaDir, dgst), 0o755);
    chmodSync(join(shaDir, dgst, 'rootfs'), 0o755);
    rmSync(join(shaDir, dgst, 'rootfs', 'server.js'), { force: true });
  }
  const res = await d.api('POST', `/v1/apps/echo/machines/${m.id}/start`);
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.equal(res.body.code, 'image_corrupt');
  assert.match(res.body.error, /server\.js/);
  assert.equal((await d.api('GET', `/v1/apps/echo/machines/${m.id}`)).body.state, 'failed');
});
