import assert from 'node:assert/strict';
import { request, Agent } from 'node:http';
import { connect, createServer } from 'node:net';
import { test } from 'node:test';
import { echoConfig, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

// The proxy's behaviour is tested against the proxy as it runs by default: in worker processes.
process.env.HANGAR_PROXY_WORKERS ??= '2';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function via(d: TestDaemon, path: string, headers: Record<string, string> = {}, port?: number, method = 'GET'): Promise<{ status: number; text: string; machine: string | undefined }> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: port ?? u.port, path, method, headers: { host: 'echo.localhost', ...headers }, agent }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, machine: res.headers['hangar-machine'] as string | undefined }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'x' : undefined);
  });
}

async function twoMachines(t: Parameters<typeof startDaemon>[0], extra: Record<string, unknown> = {}, extraB: Record<string, unknown> = extra) {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const create = async ({ region, ...cfg }: Record<string, unknown>) =>
    (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, cfg), ...(region ? { region } : {}) })).body;
  const a = await create(extra);
  const b = await create(extraB);
  await waitUntil(async () => {
    const seen = new Set<unknown>();
    for (let i = 0; i < 20; i++) seen.add((await via(d, '/')).machine);
    return seen.size === 2;
  }, 10_000, 'both machines in rotation');
  return { d, a, b };
}

test('weights split 1,000 requests 95/5 within ±3 points; pins reach a set at weight 0', async (t) => {
  const { d, a, b } = await twoMachines(t);
  const set = await d.api('PATCH', '/v1/apps/echo/routing', { sets: [{ name: 'stable', machines: [a.id], weight: 95 }, { name: 'canary', machines: [b.id], weight: 5 }] });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  let onB = 0;
  for (let i = 0; i < 1000; i++) if ((await via(d, '/')).machine === b.id) onB++;
  assert.ok(Math.abs(onB / 10 - 5) <= 3, `canary share ${onB / 10} % (want 5 ± 3)`);

  await d.api('PATCH', '/v1/apps/echo/routing', {
    sets: [{ name: 'stable', machines: [a.id], weight: 100 }, { name: 'canary', machines: [b.id], weight: 0 }],
    pins: [{ set: 'canary', header: { name: 'hangar-canary', value: '1' } }, { set: 'canary', cookie: { name: 'hangar-canary', value: 'yes' } }],
  });
  for (let i = 0; i < 50; i++) {
    assert.equal((await via(d, '/', { 'hangar-canary': '1' })).machine, b.id);
    assert.equal((await via(d, '/', { cookie: 'a=b; hangar-canary=yes' })).machine, b.id);
    assert.equal((await via(d, '/')).machine, a.id);
  }
  const bad = await d.api('PATCH', '/v1/apps/echo/routing', { pins: [{ set: 'nope', header: { name: 'x', value: '1' } }] });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.body.details.map((x: { path: string }) => x.path), ['pins[0].set']);
  // Stored: a restarted daemon restores the same split.
  const stored = (await d.api('GET', '/v1/apps/echo/routing')).body;
  assert.deepEqual(stored.sets.map((s: { weight: number }) => s.weight), [100, 0]);
  await d.api('PATCH', '/v1/apps/echo/routing', { sets: null, pins: null });
});

test('hard limit: no new work at the limit, held within the window, then 503; soft limit beats region preference', async (t) => {
  const limits = { services: [{ internal_port: 8080, concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } }] };
  const { d, a, b } = await twoMachines(t, { ...limits, region: 'ams' }, { ...limits, region: 'dfw' });
  await d.api('PATCH', '/v1/apps/echo/routing', { hold_timeout: '3s' });
  let firstSlowDone = 0;
  const s1 = via(d, '/slow?ms=800').then((r) => ((firstSlowDone ||= Date.now()), r));
  const s2 = via(d, '/slow?ms=800').then((r) => ((firstSlowDone ||= Date.now()), r));
  await waitUntil(async () => (await d.api('GET', '/v1/apps/echo/machines')).body.every((m: { inflight: number }) => m.inflight === 1), 5000, 'one slow request on each machine');
  const third = await via(d, '/');
  const thirdDone = Date.now();
  assert.equal(third.status, 200, 'held until a machine had room');
  assert.ok(firstSlowDone > 0 && thirdDone >= firstSlowDone, 'it was served only once a slow request had finished');
  const [r1, r2] = await Promise.all([s1, s2]);
  assert.notEqual(r1.machine, r2.machine, 'the second slow request did not go to the busy machine');

  // With proxy workers the API's in-flight figures trail by one report (50 ms): wait for the last
  // phase's requests to leave them before reading them as this phase's.
  const idle = () => waitUntil(async () => (await d.api('GET', '/v1/apps/echo/machines')).body.every((m: { inflight: number }) => m.inflight === 0), 5000, 'no request in flight');
  await idle();
  await d.api('PATCH', '/v1/apps/echo/routing', { hold_timeout: '200ms' });
  const busy = [via(d, '/slow?ms=1500'), via(d, '/slow?ms=1500')];
  await waitUntil(async () => (await d.api('GET', '/v1/apps/echo/machines')).body.every((m: { inflight: number }) => m.inflight === 1), 5000, 'both busy');
  const rejected = await via(d, '/');
  assert.equal(rejected.status, 503);
  assert.match(rejected.text, /no healthy machine/);
  await Promise.all(busy);
  await idle();

  // Soft limit: A (ams) is at its soft limit, so a request preferring ams goes to B.
  const pinned = via(d, '/slow?ms=800', { 'hangar-prefer-region': 'ams' });
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${a.id}`)).body.inflight === 1, 5000, 'A busy');
  assert.equal((await via(d, '/', { 'hangar-prefer-region': 'ams' })).machine, b.id);
  assert.equal((await pinned).machine, a.id);
});

test('a refused connect is retried on another machine; an upstream that dies mid-request is a 502 and the proxy keeps serving', async (t) => {
  const { d, a, b } = await twoMachines(t, { restart: { policy: 'no' } });
  // Make A refuse connections while its process stays up (so nothing marks it down).
  let closed = false;
  for (let i = 0; i < 20 && !closed; i++) if ((await via(d, '/close-listener', { 'hangar-prefer-region': 'local' })).text === 'closing\n') closed = true;
  const aliveA = (await d.api('GET', `/v1/apps/echo/machines/${a.id}`)).body;
  assert.equal(aliveA.state, 'started');
  agent.destroy();
  for (let i = 0; i < 30; i++) {
    const r = await via(d, '/');
    assert.equal(r.status, 200);
  }
  const died = await via(d, '/die', { 'content-length': '1' }, undefined, 'POST');
  assert.equal(died.status, 502);
  assert.match(died.text, /failed to answer/);
  await waitUntil(async () => (await d.api('GET', '/v1/apps/echo/machines')).body.some((m: { state: string }) => m.state === 'stopped'), 5000, 'the dead machine marked stopped');
  const fresh = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig((await d.api('GET', `/v1/apps/echo/machines/${b.id}`)).body.config.image) })).body;
  await waitUntil(async () => (await via(d, '/')).status === 200, 10_000, 'serving again');
  assert.ok(fresh.id);
});

test('conflicting Content-Length and Transfer-Encoding are rejected', async (t) => {
  const d = await startDaemon(t);
  const u = new URL(d.proxyUrl);
  const answer = await new Promise<string>((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write('POST / HTTP/1.1\r\nHost: echo.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'));
    let got = '';
    s.on('data', (c) => (got += c));
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400/);
});

test('hostnames from the config and a dedicated port route to the app', async (t) => {
  const { d } = await twoMachines(t);
  const free = await new Promise<number>((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
  await d.api('PATCH', '/v1/apps/echo/routing', { hostnames: ['shop.example.test'], ports: [free] });
  assert.equal((await via(d, '/', { host: 'shop.example.test' })).status, 200);
  await waitUntil(async () => (await via(d, '/', { host: 'anything' }, free).catch(() => ({ status: 0 }))).status === 200, 5000, 'the dedicated port');
});

test('a WebSocket survives draining until kill_timeout, then is closed', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'echo' });
  const image = await uploadEcho(d, 'echo');
  const m = (await d.api('POST', '/v1/apps/echo/machines', { config: echoConfig(image, { stop_config: { signal: 'SIGINT', timeout: '1500ms' } }) })).body;
  await waitUntil(async () => (await via(d, '/')).status === 200, 10_000, 'routing');
  const u = new URL(d.proxyUrl);
  const sock = connect(Number(u.port), u.hostname);
  let buf = '';
  sock.on('data', (c) => (buf += c));
  const closed = new Promise<number>((r) => sock.on('close', () => r(Date.now())));
  sock.write('GET /ws HTTP/1.1\r\nHost: echo.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  await waitUntil(() => buf.includes('\r\n\r\n'), 5000, 'the 101');
  assert.match(buf, /^HTTP\/1\.1 101/);
  assert.match(buf, new RegExp(`hangar-upstream: ${m.id}`));
  buf = '';
  sock.write('ping-1');
  await waitUntil(() => buf.includes('ping-1'), 5000, 'echo');
  // In-flight counts reach the API from the proxy's workers within a report interval (50 ms).
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${m.id}`)).body.inflight === 1, 2000, 'the WebSocket counted in flight');
  const t0 = Date.now();
  const stopping = d.api('POST', `/v1/apps/echo/machines/${m.id}/stop`, {});
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${m.id}`)).body.state === 'stopping', 5000, 'stopping');
  sock.write('ping-2');
  await waitUntil(() => buf.includes('ping-2'), 1000, 'echo while draining');
  const closedAt = await closed;
  assert.ok(closedAt - t0 >= 1400, `kept open while draining (${closedAt - t0} ms)`);
  assert.equal((await stopping).body.state, 'stopped');
});

test('metrics: per machine set error rate and latency over a window, and Prometheus text', async (t) => {
  // With a check, a machine is only routable once it listens (no refused connects to count).
  const { d, a, b } = await twoMachines(t, { services: [{ internal_port: 8080, checks: [{ type: 'tcp', interval: '50ms', grace_period: '0s' }] }] });
  await d.api('PATCH', '/v1/apps/echo/routing', { sets: [{ name: 'a', machines: [a.id], weight: 1 }, { name: 'b', machines: [b.id], weight: 0 }], pins: [{ set: 'b', header: { name: 'to-b', value: '1' } }] });
  for (let i = 0; i < 40; i++) await via(d, '/');
  for (let i = 0; i < 30; i++) await via(d, '/', { 'to-b': '1' });
  for (let i = 0; i < 10; i++) await via(d, '/fail', { 'to-b': '1' });
  const cmp = await d.api('POST', '/v1/apps/echo/metrics/compare', { window: '30s', a: [a.id], b: [b.id] });
  assert.equal(cmp.status, 200, JSON.stringify(cmp.body));
  assert.ok(cmp.body.a.requests >= 40, `a saw ${cmp.body.a.requests}`);
  assert.equal(cmp.body.a.error_rate, 0, JSON.stringify(cmp.body.a));
  assert.ok(cmp.body.b.requests >= 40, `b saw ${cmp.body.b.requests}`);
  assert.equal(cmp.body.b.by_class['5xx'], 10);
  assert.equal(cmp.body.b.error_rate, 10 / cmp.body.b.requests);
  assert.ok(cmp.body.a.p95_ms > 0);
  const app = await d.api('GET', '/v1/apps/echo/metrics?window=30s');
  assert.ok(app.body.requests >= 80);
  const prom = await d.api('GET', '/metrics');
  assert.equal(prom.status, 200);
  assert.match(prom.body, new RegExp(`hangar_proxy_requests_total\\{app="echo",machine="${b.id}",class="5xx"\\} 10`));
  assert.match(prom.body, /hangar_proxy_request_duration_seconds_bucket/);
  assert.match(prom.body, /hangar_proxy_inflight/);
  assert.equal((await d.api('GET', '/v1/apps/echo/metrics?window=5h')).status, 400);
});
