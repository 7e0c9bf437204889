import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runHttpCheck, runTcpCheck } from './runner.js';
import { freePort, startHttpServer, startTcpServer, testSpec } from './test-support.js';

const HOST = '127.0.0.1';

test('http check passes on 200, sends method, path and headers, and closes its connection', async (t) => {
  let seen: { method?: string; url?: string; header?: string | string[] } = {};
  const server = await startHttpServer(t, (req, res) => {
    seen = { method: req.method, url: req.url, header: req.headers['x-probe'] };
    res.end('fine');
  });
  const headers = { 'X-Probe': 'yes' };
  const spec = testSpec({ port: server.port, method: 'POST', path: '/health?deep=1', headers });
  const result = await runHttpCheck(spec, HOST);
  assert.deepEqual(result, { ok: true, output: 'HTTP 200 OK' });
  assert.deepEqual(seen, { method: 'POST', url: '/health?deep=1', header: 'yes' });
  await server.waitFor(() => server.openConnections() === 0, 1000, 'the probe connection to close');
});

test('http check passes on a redirect without following it', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.writeHead(302, { location: '/elsewhere' }).end();
  });
  const result = await runHttpCheck(testSpec({ port: server.port }), HOST);
  assert.deepEqual(result, { ok: true, output: 'HTTP 302 Found' });
  assert.deepEqual(server.requests, ['GET /']);
});

test('http check fails on 500 and reports the start of the body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.writeHead(500).end('database unreachable\n');
  });
  const result = await runHttpCheck(testSpec({ port: server.port }), HOST);
  assert.deepEqual(result, { ok: false, output: 'HTTP 500: database unreachable' });
});

test('http check keeps only the first 200 characters of a failing body', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.writeHead(503).end('x'.repeat(5000));
  });
  const result = await runHttpCheck(testSpec({ port: server.port }), HOST);
  assert.equal(result.ok, false);
  assert.equal(result.output, `HTTP 503: ${'x'.repeat(200)}`);
  await server.waitFor(() => server.openConnections() === 0, 1000, 'the probe connection to close');
});

test('http check fails with the status line when a failing body is empty', async (t) => {
  const server = await startHttpServer(t, (_req, res) => {
    res.writeHead(404).end();
  });
  const result = await runHttpCheck(testSpec({ port: server.port }), HOST);
  assert.deepEqual(result, { ok: false, output: 'HTTP 404 Not Found' });
});

test('http check fails on a refused connection', async () => {
  const port = await freePort();
  const result = await runHttpCheck(testSpec({ port }), HOST);
  assert.deepEqual(result, { ok: false, output: `connect ECONNREFUSED ${HOST}:${port}` });
});

test('http check times out on a server that never answers, and leaves no connection open', async (t) => {
  const server = await startHttpServer(t, () => {
    // Never respond.
  });
  const result = await runHttpCheck(testSpec({ port: server.port, timeoutMs: 50 }), HOST);
  assert.deepEqual(result, { ok: false, output: 'timeout after 50ms' });
  assert.deepEqual(server.requests, ['GET /']);
  await server.waitFor(() => server.openConnections() === 0, 1000, 'the timed-out connection to close');
});

test('http check stops at once when its signal aborts', async (t) => {
  const server = await startHttpServer(t, () => {});
  const controller = new AbortController();
  const pending = runHttpCheck(testSpec({ port: server.port, timeoutMs: 10_000 }), HOST, controller.signal);
  await server.waitFor(() => server.requests.length === 1, 1000, 'the probe to arrive');
  controller.abort();
  assert.deepEqual(await pending, { ok: false, output: 'aborted' });
  await server.waitFor(() => server.openConnections() === 0, 1000, 'the aborted connection to close');
  assert.deepEqual(await runHttpCheck(testSpec({ port: server.port }), HOST, controller.signal), {
    ok: false,
    output: 'aborted',
  });
});

test('a spec Node rejects outright fails the check instead of throwing', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const badHeader = await runHttpCheck(testSpec({ port: server.port, headers: { 'X-Bad': 'a\r\nb' } }), HOST);
  assert.equal(badHeader.ok, false);
  assert.match(badHeader.output, /Invalid character in header content \["X-Bad"\]/);
  const badPort = await runTcpCheck(testSpec({ type: 'tcp', port: 70_000 }), HOST);
  assert.equal(badPort.ok, false);
  assert.match(badPort.output, /port/i);
  assert.deepEqual(server.requests, []);
});

test('tcp check passes when a connection is accepted', async (t) => {
  const server = await startTcpServer(t);
  const result = await runTcpCheck(testSpec({ type: 'tcp', port: server.port }), HOST);
  assert.deepEqual(result, { ok: true, output: `TCP connect ${HOST}:${server.port}: success` });
  assert.equal(server.accepted(), 1);
});

test('tcp check fails on a refused connection', async () => {
  const port = await freePort();
  const result = await runTcpCheck(testSpec({ type: 'tcp', port }), HOST);
  assert.deepEqual(result, { ok: false, output: `connect ECONNREFUSED ${HOST}:${port}` });
});

test('runCheck dispatches on the spec type', async (t) => {
  const tcp = await startTcpServer(t);
  assert.equal((await runCheck(testSpec({ type: 'tcp', port: tcp.port }), HOST)).ok, true);
  const web = await startHttpServer(t, (_req, res) => res.end());
  assert.deepEqual(await runCheck(testSpec({ port: web.port }), HOST), { ok: true, output: 'HTTP 200 OK' });
});
