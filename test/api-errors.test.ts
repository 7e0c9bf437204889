import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { echoConfig, startDaemon, uploadEcho, type TestDaemon } from './helpers.js';

/** Sends raw bytes to the API and returns the raw answer (the socket is closed by either side). */
function raw(d: TestDaemon, text: string): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const u = new URL(d.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(text));
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (c) => {
      got += c;
      // One answer is all these tests want; a kept-alive socket would wait for the next request.
      const end = got.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(got.slice(0, end));
      if (end >= 0 && length && got.length >= end + 4 + Number(length[1])) s.destroy();
    });
    s.on('close', () => {
      const [head = '', ...rest] = got.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const text = rest.join('\r\n\r\n');
      let body: any = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    s.on('error', reject);
  });
}

/** The one error shape: error, code, details, request_id (equal to the header), an optional hint, nothing else. */
function assertErrorShape(a: { headers: Record<string, string> | Headers; body: any }, code: string): void {
  const header = a.headers instanceof Headers ? a.headers.get('x-request-id') : a.headers['x-request-id'];
  assert.equal(a.body.code, code, JSON.stringify(a.body));
  assert.equal(typeof a.body.error, 'string');
  assert.ok(Array.isArray(a.body.details));
  assert.match(a.body.request_id, /^[0-9A-Z]{26}$/);
  assert.equal(header, a.body.request_id, 'the header names the same request');
  const extra = Object.keys(a.body).filter((k) => !['error', 'code', 'hint', 'details', 'request_id'].includes(k));
  assert.deepEqual(extra, [], 'no other fields (fastify’s statusCode, message)');
}

async function fetchApi(d: TestDaemon, method: string, path: string, init: { body?: string; headers?: Record<string, string> } = {}) {
  const res = await fetch(d.url + path, { method, headers: { authorization: `Bearer ${d.token}`, ...init.headers }, body: init.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

const paths = (body: { details: Array<{ path: string }> }) => body.details.map((x) => x.path);

test('an image tag or reference with % is looked up as given, never decoded twice', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'x' });
  for (const path of ['/v1/apps/x/images/%25', '/v1/apps/x/images/%2525', '/v1/apps/x/images/a%25zz']) {
    const got = await d.api('GET', path);
    assert.equal(got.status, 404, path);
    assert.equal(got.body.code, 'image_not_found');
  }
  const push = await d.api('POST', '/v1/apps/x/images/%25/push');
  assert.equal(push.status, 404);
  assert.equal(push.body.code, 'image_not_found');
  // A full reference in one segment (its slashes and colon encoded) is decoded once, by the router.
  const image = await uploadEcho(d, 'x');
  const found = await d.api('GET', `/v1/apps/x/images/${encodeURIComponent(image)}`);
  assert.equal(found.status, 200);
  assert.equal(found.body.ref, image);
  // A malformed escape is the client's: 400 in the one error shape.
  const bad = await fetchApi(d, 'GET', '/v1/apps/x/images/%');
  assert.equal(bad.status, 400);
  assertErrorShape(bad, 'invalid_url');
});

test('numbers and durations are held to their bounds by the schema: 400 naming the field', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'x' });
  const id = 'aaaaaaaaaaaaaa';
  const huge = await d.api('POST', '/v1/apps/x/metrics/compare', { window: 1e120, a: [id], b: [id] });
  assert.equal(huge.status, 400);
  assert.deepEqual(paths(huge.body), ['body.window']);
  for (const window of ['0.5s', '11m', '', '5 minutes']) {
    const q = await d.api('GET', `/v1/apps/x/metrics?window=${encodeURIComponent(window)}`);
    assert.equal(q.status, 400, window);
    assert.deepEqual(paths(q.body), ['querystring.window'], window);
  }
  assert.equal((await d.api('GET', '/v1/apps/x/metrics?window=10m')).status, 200);
  assert.equal((await d.api('POST', '/v1/apps/x/metrics/compare', { window: '1s', a: [id], b: [id] })).status, 200);
  const config = { image: 'x:1', stop_config: { timeout: '25h' }, guest: { cpus: 1e120 }, services: [{ internal_port: 8080, checks: [{ type: 'tcp', interval: 0 }] }] };
  const machine = await d.api('POST', '/v1/apps/x/machines', { config });
  assert.equal(machine.status, 400);
  assert.deepEqual([...new Set(paths(machine.body))].sort(), ['body.config.guest.cpus', 'body.config.services.0.checks.0.interval', 'body.config.stop_config.timeout']);
  const routing = await d.api('PATCH', '/v1/apps/x/routing', { hold_timeout: -1, idle_timeout: '' });
  assert.equal(routing.status, 400);
  assert.deepEqual(paths(routing.body).sort(), ['body.hold_timeout', 'body.idle_timeout']);
  const wait = await d.api('GET', `/v1/apps/x/machines/${id}/wait?timeout=0x10`);
  assert.equal(wait.status, 404, 'the machine is looked up first');
  const logs = await d.api('GET', '/v1/apps/x/logs?limit=1e3');
  assert.equal(logs.status, 400);
  assert.deepEqual(paths(logs.body), ['querystring.limit']);
});

test('what the path names is looked up first: 404 whatever the body says', async (t) => {
  const d = await startDaemon(t);
  const nowhere = { config: { image: 'nowhere.example/none:1' } };
  const update = await d.api('POST', '/v1/apps/nosuchapp/machines/ffffffffffffff', nowhere);
  assert.equal(update.status, 404);
  assert.equal(update.body.code, 'app_not_found');
  const invalid = await d.api('POST', '/v1/apps/nosuchapp/machines', { config: { env: 5 } });
  assert.equal(invalid.status, 404);
  assert.equal(invalid.body.code, 'app_not_found');
  await d.api('POST', '/v1/apps', { app_name: 'x' });
  const machine = await d.api('POST', '/v1/apps/x/machines/ffffffffffffff', nowhere);
  assert.equal(machine.status, 404);
  assert.equal(machine.body.code, 'machine_not_found');
  const stop = await d.api('POST', '/v1/apps/x/machines/ffffffffffffff/stop', { signal: 'SIG0' });
  assert.equal(stop.status, 404);
  assert.equal(stop.body.code, 'machine_not_found');
  const retry = await d.api('POST', '/v1/deployments/01ARZ3NDEKTSV4RRFFQ69G5FAV/retry', { machine: 'not-an-id' });
  assert.equal(retry.status, 404);
  assert.equal(retry.body.code, 'deployment_not_found');
  // A path parameter that is not even well-formed is named by validation.
  const malformed = await d.api('POST', '/v1/apps/x/machines/nosuch', nowhere);
  assert.equal(malformed.status, 400);
  assert.deepEqual(paths(malformed.body), ['params.id']);
  // With everything found, the body is what is wrong.
  const image = await uploadEcho(d, 'x');
  const m = (await d.api('POST', '/v1/apps/x/machines', { config: echoConfig(image), skip_launch: true })).body;
  const badSignal = await d.api('POST', `/v1/apps/x/machines/${m.id}/stop`, { signal: 'SIG0' });
  assert.equal(badSignal.status, 400);
  assert.deepEqual(paths(badSignal.body), ['body.signal']);
});

test('one error shape for what fastify and Node refuse; 405 with Allow; unknown query parameters refused', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'x' });
  const auth = `authorization: Bearer ${d.token}\r\n`;

  const put = await fetchApi(d, 'PUT', '/v1/apps');
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, HEAD, POST');
  assertErrorShape(put, 'method_not_allowed');
  const options = await fetchApi(d, 'OPTIONS', '/v1/apps/x/machines');
  assert.equal(options.status, 405);
  assert.equal(options.headers.get('allow'), 'GET, HEAD, POST');
  const query = await raw(d, `QUERY /v1/apps/x HTTP/1.1\r\nhost: x\r\n${auth}connection: close\r\n\r\n`);
  assert.equal(query.status, 405);
  assert.equal(query.headers.allow, 'DELETE, GET, HEAD');
  assertErrorShape(query, 'method_not_allowed');
  const unknownMethod = await raw(d, `FROB /v1/apps/x/routing HTTP/1.1\r\nhost: x\r\n${auth}\r\n`);
  assert.equal(unknownMethod.status, 405);
  assert.equal(unknownMethod.headers.allow, 'GET, HEAD, PATCH');
  assertErrorShape(unknownMethod, 'method_not_allowed');
  const nowhere = await fetchApi(d, 'GET', '/v1/nowhere');
  assert.equal(nowhere.status, 404);
  assertErrorShape(nowhere, 'route_not_found');
  assert.equal((await fetch(d.url + '/v1/apps', { method: 'PUT' })).status, 401, 'the token is checked before the method');

  const longSegment = await fetchApi(d, 'GET', `/v1/apps/${'a'.repeat(1100)}`);
  assert.equal(longSegment.status, 414);
  assertErrorShape(longSegment, 'uri_too_long');
  const longName = await fetchApi(d, 'GET', `/v1/apps/${'a'.repeat(200)}`);
  assert.equal(longName.status, 400);
  assert.deepEqual(paths(longName.body), ['params.app']);
  const longUrl = await raw(d, `GET /v1/apps?${'a'.repeat(20_000)}=1 HTTP/1.1\r\nhost: x\r\n\r\n`);
  assert.equal(longUrl.status, 414);
  assertErrorShape(longUrl, 'uri_too_long');
  const bigHeader = await raw(d, `GET /v1/apps HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.equal(bigHeader.status, 431);
  assertErrorShape(bigHeader, 'headers_too_large');
  const garbage = await raw(d, 'GET /v1/apps HTTP/1.1\r\nhost x\r\n\r\n');
  assert.equal(garbage.status, 400);
  assertErrorShape(garbage, 'bad_request');

  const tooLarge = await raw(d, `POST /v1/apps HTTP/1.1\r\nhost: x\r\n${auth}content-type: application/json\r\ncontent-length: ${5 * 1024 * 1024}\r\n\r\n{`);
  assert.equal(tooLarge.status, 413);
  assertErrorShape(tooLarge, 'body_too_large');
  for (const type of ['application/xml', 'text/plain']) {
    const other = await fetchApi(d, 'POST', '/v1/apps', { body: 'app_name=x', headers: { 'content-type': type } });
    assert.equal(other.status, 415, type);
    assertErrorShape(other, 'unsupported_media_type');
  }
  const badJson = await fetchApi(d, 'POST', '/v1/apps', { body: '{"app_name":', headers: { 'content-type': 'application/json' } });
  assert.equal(badJson.status, 400);
  assertErrorShape(badJson, 'invalid_json');

  for (const path of ['/v1/apps/x/logs?tail=5&follow=true', '/v1/apps?page=2', '/v1/apps/x/machines?stat=started', '/health?verbose=1']) {
    const q = await fetchApi(d, 'GET', path);
    assert.equal(q.status, 400, path);
    assertErrorShape(q, 'invalid_input');
    const unknown = [...new URL(path, d.url).searchParams.keys()].filter((k) => k !== 'follow').map((k) => `querystring.${k}`);
    assert.deepEqual(paths(q.body), unknown, path);
  }
});

/** A port nothing listens on right now (it may of course be taken again later). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function occupy(t: { after(fn: () => unknown): void }, port: number): Promise<Server> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, '127.0.0.1', resolve));
  t.after(() => new Promise((r) => s.close(r)));
  return s;
}

test('dedicated ports the daemon cannot serve are refused; one that fails later shows in status', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'x' });
  await d.api('POST', '/v1/apps', { app_name: 'y' });
  const apiPort = Number(new URL(d.url).port);
  const proxyPort = Number(new URL(d.proxyUrl).port);
  for (const [port, what] of [[apiPort, 'API'], [proxyPort, 'proxy']] as const) {
    const own = await d.api('PATCH', '/v1/apps/x/routing', { ports: [port] });
    assert.equal(own.status, 409, what);
    assert.equal(own.body.code, 'port_in_use');
    assert.match(own.body.details[0].message, new RegExp(`hangar ${what}`));
  }
  const busy = await occupy(t, await freePort());
  const inUse = await d.api('PATCH', '/v1/apps/x/routing', { ports: [(busy.address() as { port: number }).port] });
  assert.equal(inUse.status, 409);
  assert.deepEqual(paths(inUse.body), ['ports[0]']);
  const repeated = await d.api('PATCH', '/v1/apps/x/routing', { ports: [40001, 40001] });
  assert.equal(repeated.status, 400);
  assert.deepEqual(paths(repeated.body), ['ports[1]']);
  const outOfRange = await d.api('PATCH', '/v1/apps/x/routing', { ports: [0, 70000] });
  assert.equal(outOfRange.status, 400);
  assert.deepEqual(paths(outOfRange.body), ['body.ports.0', 'body.ports.1']);
  assert.deepEqual((await d.api('GET', '/v1/apps/x/routing')).body.ports, [], 'nothing refused was stored');

  const port = await freePort();
  const ok = await d.api('PATCH', '/v1/apps/x/routing', { ports: [port] });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.body.ports_failed, []);
  const taken = await d.api('PATCH', '/v1/apps/y/routing', { ports: [port] });
  assert.equal(taken.status, 409);
  assert.match(taken.body.error, /app x/);
  assert.equal((await d.api('PATCH', '/v1/apps/x/routing', { ports: [port] })).status, 200, 'its own open port again is fine');

  // Taken while the daemon was down: the restarted daemon reports it instead of only logging it.
  await d.stop();
  const squatter = await occupy(t, port);
  const d2 = await d.restart();
  const routing = (await d2.api('GET', '/v1/apps/x/routing')).body;
  assert.deepEqual(routing.ports, [port]);
  assert.equal(routing.ports_failed.length, 1);
  assert.equal(routing.ports_failed[0].port, port);
  assert.match(routing.ports_failed[0].error, /in use/);
  const status = d2.cli(['status', '-a', 'x']);
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stderr, new RegExp(`dedicated port ${port} is not open: port ${port} is in use`));
  assert.deepEqual(JSON.parse(d2.cli(['status', '-a', 'x', '--json']).stdout).ports_failed, routing.ports_failed);
  await new Promise((r) => squatter.close(r));
  const again = await d2.api('PATCH', '/v1/apps/x/routing', { ports: [port] });
  assert.equal(again.status, 200);
  assert.deepEqual(again.body.ports_failed, []);
  assert.doesNotMatch(d2.cli(['status', '-a', 'x']).stderr, /not open/);
});

test('a NUL byte in a command or the environment is a 400 naming the field, not a failed start', async (t) => {
  const d = await startDaemon(t);
  assert.equal((await d.api('POST', '/v1/apps', { app_name: 'nul' })).status, 201);
  const image = await uploadEcho(d, 'nul');
  const cmd = await d.api('POST', '/v1/apps/nul/machines', { config: { ...echoConfig(image), init: { cmd: ['node', 'server.js', 'a\u0000b'] } } });
  assert.equal(cmd.status, 400);
  assert.equal(cmd.body.details[0].path, 'body.config.init.cmd.2');
  const env = await d.api('POST', '/v1/apps/nul/machines', { config: { ...echoConfig(image), env: { A: 'x\u0000y' } } });
  assert.equal(env.status, 400);
  assert.equal(env.body.details[0].path, 'body.config.env.A');
  assert.deepEqual((await d.api('GET', '/v1/apps/nul/machines')).body, [], 'no machine was made');
});
