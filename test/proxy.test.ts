import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { echoConfig, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

// The proxy's behaviour is tested against the proxy as it runs by default: in worker processes.
process.env.HANGAR_PROXY_WORKERS ??= '2';

/** A request through the proxy with a Host header (Node's resolver does not map *.localhost). */
function viaProxy(d: TestDaemon, path: string, host = 'echo.localhost'): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const withHealth = (image: string, extra: Record<string, unknown> = {}) =>
  echoConfig(image, { services: [{ internal_port: 8080, checks: [{ type: 'http', path: '/health', interval: '50ms', timeout: '1s', grace_period: '0s' }] }], ...extra });

test('proxy: routes by Host to started machines, adds headers; unknown host is a 404', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const m = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image) })).body;
  await waitUntil(async () => (await viaProxy(d, '/')).status === 200, 10_000, 'the proxy to route');
  const r = await viaProxy(d, '/env');
  assert.equal(r.headers['hangar-machine'], m.id);
  assert.match(String(r.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const env = JSON.parse(r.text).env;
  assert.equal(env.FLY_MACHINE_ID, m.id);
  const unknown = await viaProxy(d, '/', 'nope.localhost');
  assert.equal(unknown.status, 404);
  assert.match(unknown.text, /no app is served at nope\.localhost/);
});

test('proxy: a machine failing its check gets no traffic and gets it back when it recovers', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const dir = mkdtempSync(join(tmpdir(), 'hangar-flag-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const flag = join(dir, 'fail');
  const good = (await d.api('POST', '/v1/apps/echo/machines', { config: withHealth(image) })).body;
  const flaky = (await d.api('POST', '/v1/apps/echo/machines', { config: withHealth(image, { env: { MESSAGE: 'hi', HEALTH_FAIL_FILE: flag } }) })).body;
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${flaky.id}`)).body.checks[0]?.status === 'passing', 10_000, 'checks to pass');
  writeFileSync(flag, '');
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${flaky.id}`)).body.checks[0]?.status === 'critical', 10_000, 'the check to fail');
  for (let i = 0; i < 30; i++) assert.equal((await viaProxy(d, '/')).headers['hangar-machine'], good.id);
  rmSync(flag);
  await waitUntil(async () => (await viaProxy(d, '/')).headers['hangar-machine'] === flaky.id, 10_000, 'traffic back on the recovered machine');
});

test('proxy: a request in flight finishes while its machine drains; new ones go elsewhere; the hold window covers a gap', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const a = (await d.api('POST', '/v1/apps/echo/machines', { config: withHealth(image) })).body;
  const b = (await d.api('POST', '/v1/apps/echo/machines', { config: withHealth(image) })).body;
  await waitUntil(async () => {
    const seen = new Set<unknown>();
    for (let i = 0; i < 10; i++) seen.add((await viaProxy(d, '/')).headers['hangar-machine']);
    return seen.size === 2;
  }, 10_000, 'both machines in rotation');
  // Pin the slow request on A by stopping B's traffic first (cordon), then put B back.
  await d.api('POST', `/v1/apps/echo/machines/${b.id}/cordon`);
  // In-flight figures trail the proxy's workers by one report (50 ms): let the probes above leave them.
  await waitUntil(async () => (await d.api('GET', '/v1/apps/echo/machines')).body.every((m: { inflight: number }) => m.inflight === 0), 5000, 'no request in flight');
  const slow = viaProxy(d, '/slow?ms=2000');
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${a.id}`)).body.inflight === 1, 5000, 'the slow request in flight on A');
  await d.api('POST', `/v1/apps/echo/machines/${b.id}/uncordon`);
  const stopping = d.api('POST', `/v1/apps/echo/machines/${a.id}/stop`, {});
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${a.id}`)).body.state === 'stopping', 5000, 'A stopping');
  for (let i = 0; i < 10; i++) assert.equal((await viaProxy(d, '/')).headers['hangar-machine'], b.id, 'new requests avoid the draining machine');
  const done = await slow;
  assert.equal(done.status, 200);
  assert.equal(done.text, `slow done ${a.id}\n`);
  assert.equal((await stopping).body.state, 'stopped');

  // Hold: with every machine stopped, a request waits until one is back.
  await d.api('POST', `/v1/apps/echo/machines/${b.id}/stop`, {});
  const held = viaProxy(d, '/');
  await d.api('POST', `/v1/apps/echo/machines/${a.id}/start`);
  const r = await held;
  assert.equal(r.status, 200);
  assert.equal(r.headers['hangar-machine'], a.id);
});

test('proxy: SSE streams through unbuffered', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  await d.api('POST', '/v1/apps/echo/machines', { config: withHealth(image) });
  await waitUntil(async () => (await viaProxy(d, '/')).status === 200, 10_000, 'routing');
  const u = new URL(d.proxyUrl);
  const arrivals: number[] = [];
  const t0 = Date.now();
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/sse', headers: { host: 'echo.localhost' } }, (res) => {
      assert.equal(res.headers['content-type'], 'text/event-stream');
      res.on('data', (c: Buffer) => {
        for (const _ of c.toString().matchAll(/data: tick/g)) arrivals.push(Date.now() - t0);
      });
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(arrivals.length, 5);
  assert.ok(arrivals[0]! < arrivals[4]! - 250, `events arrive as they are sent, not at the end: ${arrivals.join(', ')}`);
});
