/**
 * The certificate store against Pebble, a real ACME server: a hostname is ordered through HTTP-01 and
 * serves a TLS handshake that verifies against Pebble's root; a renewal (the service's clock moved past
 * renewsAt) first fails while the answering server says 404, the old certificate serving meanwhile,
 * then replaces it with a new serial; a new hostname whose challenge fails stays pending with Pebble's
 * reason and is issued on the retry once the server answers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { connect, createServer as createTlsServer } from 'node:tls';
import { CertService } from '../src/certs/index.js';
import { captureLog, certState, until } from '../src/certs/test-support.js';
import { pebbleAvailable, startPebble } from './support/pebble.js';

const available = pebbleAvailable();

function listen(server: Server | ReturnType<typeof createTlsServer>, t: { after(fn: () => unknown): void }): Promise<number> {
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

/** The serial of the certificate a TLS handshake for `servername` presents, verified against `ca`. */
function handshake(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, ca }, () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase();
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

test('ACME against Pebble: issue, serve, renew, and retry a failed challenge', { skip: available.ok ? false : available.reason, timeout: 60_000 }, async (t) => {
  // The HTTP-01 answering server, as the proxy's port 80 would be: it answers from the store, or 404s.
  let answering = true;
  let service: CertService | undefined;
  const http = createServer((req, res) => {
    const token = /^\/\.well-known\/acme-challenge\/([^/]+)$/.exec(req.url ?? '')?.[1];
    const reply = (status: number, body: string) => res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    if (!token || !answering || !service) return reply(404, 'not found');
    void service.challenge(token).then((answer) => (answer ? reply(200, answer) : reply(404, 'unknown token')));
  });
  const httpPort = await listen(http, t);
  const pebble = await startPebble(t, { httpPort });

  const env = await certState(t);
  const events: string[] = [];
  let offset = 0;
  const { log, text } = captureLog();
  service = new CertService({
    state: env.state,
    vault: env.vault,
    log,
    acme: { directoryUrl: pebble.directoryUrl, caFile: pebble.caFile, email: 'ops@example.test' },
    dnsTargets: () => ['127.0.0.1'],
    onEvent: (app, message, level) => events.push(`${level} ${app}: ${message}`),
    now: () => Date.now() + offset,
    checkIntervalMs: 200,
    retryDelaysMs: [300],
  });
  t.after(() => service!.stop());
  await service.start();
  const show = (host: string) => service!.show('web', host);
  const failing = (why: string) => `${why}\nevents:\n${events.join('\n')}\nlog:\n${text()}\npebble:\n${pebble.output()}`;

  // 1. Issue, and serve a handshake that verifies against Pebble's root.
  await service.add('web', 'shop.test');
  await until(async () => (await show('shop.test')).status === 'issued', 15_000, 'shop.test issued').catch((err) => assert.fail(failing(String(err))));
  const first = await show('shop.test');
  assert.equal(first.source, 'acme');
  assert.ok(first.issuer, 'the issuer is named');
  assert.ok(first.renewsAt && first.notAfter);
  const root = await pebble.root();
  const tls = createTlsServer({ SNICallback: (name, cb) => cb(null, service!.contextFor(name)) });
  const tlsPort = await listen(tls, t);
  assert.equal(await handshake(tlsPort, 'shop.test', root), first.serial);
  const account = await env.state.certs.account(pebble.directoryUrl);
  assert.ok(account?.url, 'the ACME account is stored, its key sealed');
  assert.doesNotMatch(account.keySealed, /PRIVATE KEY/);

  // 2. Renewal: due once the clock passes renewsAt; the CA cannot validate (404), so the old one serves.
  answering = false;
  offset = Date.parse(first.renewsAt) - Date.now() + 1000;
  await until(async () => (await show('shop.test')).lastError !== null, 15_000, 'the failed renewal').catch((err) => assert.fail(failing(String(err))));
  const stale = await show('shop.test');
  t.diagnostic(`Pebble's reason: ${stale.lastError}`);
  assert.equal(stale.status, 'issued');
  assert.equal(stale.serial, first.serial);
  assert.match(stale.lastError!, /404/);
  assert.ok(stale.nextAttemptAt);
  assert.equal(await handshake(tlsPort, 'shop.test', root), first.serial, 'the old certificate serves while renewal fails');
  answering = true;
  await until(async () => (await show('shop.test')).serial !== first.serial, 15_000, 'the renewed certificate').catch((err) => assert.fail(failing(String(err))));
  offset = 0;
  const renewed = await show('shop.test');
  assert.equal(renewed.lastError, null);
  assert.equal(await handshake(tlsPort, 'shop.test', root), renewed.serial, 'the new certificate serves');

  // 3. A new hostname whose challenge fails stays pending with Pebble's reason, then succeeds on retry.
  answering = false;
  await service.add('web', 'fail.test');
  await until(async () => (await show('fail.test')).lastError !== null, 15_000, 'the failed order').catch((err) => assert.fail(failing(String(err))));
  const pending = await show('fail.test');
  assert.equal(pending.status, 'pending');
  assert.match(pending.lastError!, /404/);
  assert.ok(pending.nextAttemptAt);
  assert.equal(service.contextFor('fail.test'), undefined);
  answering = true;
  await until(async () => (await show('fail.test')).status === 'issued', 15_000, 'fail.test issued on retry').catch((err) => assert.fail(failing(String(err))));
  assert.equal(await handshake(tlsPort, 'fail.test', root), (await show('fail.test')).serial);
  assert.ok(events.some((e) => e.startsWith('warn web: ordering a certificate for fail.test failed')), events.join('\n'));
});
