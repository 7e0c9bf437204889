import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { UserError } from '../core/errors.js';
import { openState } from '../state/index.js';
import { CertService, type CertServiceDeps } from './cert-service.js';
import { captureLog, certState, countPasses, FakeIssuer, selfSigned, until } from './test-support.js';
import { errorCode } from '../core/test-support.js';

const DAY = 86_400_000;

/** A service on a temp state with a fake issuer and a clock the test moves. */
async function setup(t: { after(fn: () => unknown): void }, over: Partial<CertServiceDeps> = {}) {
  const env = await certState(t);
  const issuer = new FakeIssuer(env.dir);
  const clock = { now: Date.now() };
  const events: string[] = [];
  const { log, text } = captureLog();
  const deps: CertServiceDeps = {
    state: env.state,
    vault: env.vault,
    log,
    acme: { directoryUrl: 'https://ca.invalid/dir' },
    dnsTargets: () => ['203.0.113.7', '2001:db8::7'],
    onEvent: (app, message, level) => events.push(`${level} ${app}: ${message}`),
    now: () => clock.now,
    checkIntervalMs: 20,
    syncIntervalMs: 20,
    retryDelaysMs: [1000, 5000],
    issuer,
    ...over,
  };
  const service = new CertService(deps);
  t.after(() => service.stop());
  const passes = countPasses(env.state);
  /** Lets the worker make `n` more passes (on every state given). */
  const checks = async (n = 3, states = [passes]) => {
    const base = states.map((p) => p());
    await until(() => states.every((p, i) => p() >= base[i]! + n), 5000, `${n} more checks`);
  };
  return { ...env, issuer, clock, events, service, deps, log: text, checks };
}

const codeOf = errorCode;

test('add validates the hostname and refuses one another app has, naming it', async (t) => {
  const s = await setup(t);
  assert.equal(await codeOf(s.service.add('web', '*.example.test')), 'invalid_hostname');
  assert.equal(await codeOf(s.service.add('web', '192.0.2.1')), 'invalid_hostname');
  assert.equal(await codeOf(s.service.add('web', 'bad_name.example.test')), 'invalid_hostname');
  assert.equal(await codeOf(s.service.add('nope', 'shop.example.test')), 'app_not_found');
  const added = await s.service.add('shop', 'Shop.Example.Test');
  assert.equal(added.hostname, 'shop.example.test');
  assert.equal(added.status, 'pending');
  assert.deepEqual(added.dns, [
    { type: 'A', name: 'shop.example.test', value: '203.0.113.7' },
    { type: 'AAAA', name: 'shop.example.test', value: '2001:db8::7' },
  ]);
  const err = await s.service.add('web', 'shop.example.test').catch((e: unknown) => e);
  assert.ok(err instanceof UserError);
  assert.equal(err.code, 'hostname_taken');
  assert.equal(err.kind, 'conflict');
  assert.match(err.message, /belongs to app shop/);
  await s.state.apps.setRouting('app_shop', { hostnames: ['routed.example.test'] });
  assert.equal(await codeOf(s.service.add('web', 'routed.example.test')), 'hostname_taken', "another app's routed hostname");
  assert.equal((await s.service.add('shop', 'routed.example.test')).app, 'shop', 'its own routed hostname is fine');
  assert.deepEqual((await s.service.list('shop')).map((c) => c.hostname), ['routed.example.test', 'shop.example.test']);
  assert.deepEqual(await s.service.list('web'), []);
  assert.equal(await codeOf(s.service.show('web', 'shop.example.test')), 'certificate_not_found');
  assert.equal(await codeOf(s.service.remove('web', 'shop.example.test')), 'certificate_not_found');
  assert.equal((await s.service.remove('shop', 'shop.example.test')).hostname, 'shop.example.test');
  assert.equal((await s.service.add('web', 'shop.example.test')).app, 'web', 'free again once removed');
});

test('the worker orders an added hostname: the challenge is answered while it runs, then the certificate serves', async (t) => {
  const s = await setup(t);
  await s.service.start();
  s.issuer.hold();
  await s.service.add('web', 'shop.example.test');
  assert.equal(s.service.appFor('shop.example.test'), 'web', 'a pending hostname routes to its app');
  assert.equal(s.service.contextFor('shop.example.test'), undefined, 'no certificate yet');
  await until(() => s.issuer.orders.length === 1, 5000, 'the order');
  assert.equal(await s.service.challenge('token-1'), 'token-1.thumbprint');
  s.issuer.release();
  await until(async () => (await s.service.show('web', 'shop.example.test')).status === 'issued', 5000, 'issued');
  assert.equal(await s.service.challenge('token-1'), undefined, 'withdrawn after the order');
  assert.ok(s.service.contextFor('shop.example.test'));
  assert.ok(s.service.contextFor('SHOP.example.test'), 'SNI is case-insensitive');
  assert.equal(s.service.contextFor('other.example.test'), undefined);
  const c = await s.service.show('web', 'shop.example.test');
  assert.equal(c.source, 'acme');
  assert.equal(c.issuer, 'shop.example.test');
  assert.equal(c.lastError, null);
  assert.equal(Date.parse(c.renewsAt!), Date.parse(c.notAfter!) - 30 * DAY);
  assert.equal(c.nextAttemptAt, c.renewsAt);
  assert.ok(s.events.some((e) => /^info web: certificate for shop.example.test issued by/.test(e)), s.events.join('\n'));
  // Private keys are only stored sealed: no PEM key in the database file or its WAL.
  const raw = readFileSync(s.file).toString('latin1') + readFileSync(`${s.file}-wal`).toString('latin1');
  assert.match(raw, /BEGIN CERTIFICATE/);
  assert.doesNotMatch(raw, /PRIVATE KEY/);
  // Another service on the same state loads it at start.
  const again = new CertService({ ...s.deps, issuer: new FakeIssuer(s.dir) });
  t.after(() => again.stop());
  await again.start();
  assert.ok(again.contextFor('shop.example.test'));
});

test('failed orders stay pending with the reason and back off; the next success clears them', async (t) => {
  const s = await setup(t);
  const t0 = s.clock.now;
  s.issuer.next({ ok: false, message: 'Invalid response from http://shop.example.test/.well-known/acme-challenge/x: 404' }, { ok: false, message: 'connection refused' }, { ok: true });
  await s.service.start();
  await s.service.add('web', 'shop.example.test');
  await until(async () => (await s.service.show('web', 'shop.example.test')).lastError !== null, 5000, 'the first failure');
  let c = await s.service.show('web', 'shop.example.test');
  assert.equal(c.status, 'pending');
  assert.match(c.lastError!, /404/);
  assert.equal(c.nextAttemptAt, new Date(t0 + 1000).toISOString(), 'first delay');
  assert.ok(s.events.some((e) => e.startsWith('warn web: ordering a certificate for shop.example.test failed: Invalid response')), s.events.join('\n'));
  // Checks keep running, but nothing is due before the backoff ends.
  s.clock.now = t0 + 999;
  await s.checks();
  assert.equal(s.issuer.orders.length, 1);
  s.clock.now = t0 + 1000;
  await until(() => s.issuer.orders.length === 2, 5000, 'the retry');
  await until(async () => (await s.service.show('web', 'shop.example.test')).lastError === 'connection refused', 5000, 'the second failure');
  c = await s.service.show('web', 'shop.example.test');
  assert.equal(c.nextAttemptAt, new Date(t0 + 1000 + 5000).toISOString(), 'second delay');
  s.clock.now = t0 + 6000;
  await until(async () => (await s.service.show('web', 'shop.example.test')).status === 'issued', 5000, 'issued on the third try');
  c = await s.service.show('web', 'shop.example.test');
  assert.equal(c.lastError, null);
  assert.equal((await s.state.certs.get('shop.example.test'))!.attempts, 0);
});

test('a renewal starts renewBeforeMs before expiry; while it fails the old certificate keeps serving', async (t) => {
  const s = await setup(t, { renewBeforeMs: 10 * DAY });
  s.issuer.next({ ok: true, days: 40 }, { ok: false, message: 'rateLimited: too many certificates' }, { ok: true, days: 40 });
  await s.service.start();
  await s.service.add('web', 'shop.example.test');
  await until(async () => (await s.service.show('web', 'shop.example.test')).status === 'issued', 5000, 'issued');
  const first = await s.service.show('web', 'shop.example.test');
  const served = s.service.contextFor('shop.example.test');
  assert.equal(Date.parse(first.renewsAt!), Date.parse(first.notAfter!) - 10 * DAY);
  s.clock.now = Date.parse(first.renewsAt!) - 1;
  await s.checks();
  assert.equal(s.issuer.orders.length, 1, 'not due before renewsAt');
  s.clock.now = Date.parse(first.renewsAt!);
  await until(async () => (await s.service.show('web', 'shop.example.test')).lastError !== null, 5000, 'the failed renewal');
  const failing = await s.service.show('web', 'shop.example.test');
  assert.equal(failing.status, 'issued');
  assert.equal(failing.serial, first.serial);
  assert.equal(s.service.contextFor('shop.example.test'), served, 'the old certificate serves');
  assert.equal(failing.nextAttemptAt, new Date(s.clock.now + 1000).toISOString());
  assert.ok(s.events.some((e) => /renewing the certificate for shop.example.test failed: rateLimited.*keeps serving/.test(e)), s.events.join('\n'));
  s.clock.now += 1000;
  await until(async () => (await s.service.show('web', 'shop.example.test')).serial !== first.serial, 5000, 'the renewed certificate');
  assert.notEqual(s.service.contextFor('shop.example.test'), served, 'the new certificate serves');
  assert.equal((await s.service.show('web', 'shop.example.test')).lastError, null);
  assert.ok(s.events.some((e) => /certificate for shop.example.test renewed/.test(e)));
});

test('a hostname the CA refuses becomes failed and is not retried until added again', async (t) => {
  const s = await setup(t);
  s.issuer.next({ ok: false, message: 'Error creating new order :: name is blocked by policy', permanent: true });
  await s.service.start();
  await s.service.add('web', 'shop.example.test');
  await until(async () => (await s.service.show('web', 'shop.example.test')).status === 'failed', 5000, 'failed');
  const c = await s.service.show('web', 'shop.example.test');
  assert.equal(c.nextAttemptAt, null);
  assert.match(c.lastError!, /blocked by policy/);
  s.clock.now += 365 * DAY;
  await s.checks();
  assert.equal(s.issuer.orders.length, 1);
  assert.equal((await s.service.add('web', 'shop.example.test')).status, 'pending');
  await until(async () => (await s.service.show('web', 'shop.example.test')).status === 'issued', 5000, 'issued after adding it again');
});

test('import: served at once, never renewed, replacing an ACME one; another app’s hostname is refused', async (t) => {
  const s = await setup(t);
  await s.service.start();
  const own = selfSigned(s.dir, { names: ['shop.example.test'], days: 20 });
  s.issuer.hold();
  await s.service.add('web', 'shop.example.test');
  const c = await s.service.import('web', 'shop.example.test', own.certPem, own.keyPem);
  s.issuer.release();
  assert.deepEqual([c.status, c.source, c.renewsAt, c.nextAttemptAt, c.lastError], ['issued', 'imported', null, null, null]);
  assert.ok(s.service.contextFor('shop.example.test'));
  assert.equal(await codeOf(s.service.import('shop', 'shop.example.test', own.certPem, own.keyPem)), 'hostname_taken');
  assert.equal(await codeOf(s.service.import('web', 'www.example.test', own.certPem, own.keyPem)), 'certificate_wrong_host');
  s.clock.now += 19 * DAY;
  await s.checks();
  const after = await s.service.show('web', 'shop.example.test');
  assert.equal(after.serial, c.serial, 'the order under way when it was imported did not replace it');
  assert.equal(after.source, 'imported');
  assert.ok(s.issuer.orders.length <= 1, 'an imported certificate is not renewed');
  s.clock.now += 2 * DAY;
  assert.equal(await codeOf(s.service.import('web', 'shop.example.test', own.certPem, own.keyPem)), 'certificate_expired');
});

test('cluster: two nodes on one state order a certificate once, and the other node serves it', async (t) => {
  const a = await setup(t, { nodeId: 'node-a' });
  const stateB = await openState(a.file);
  t.after(() => stateB.close());
  const passesB = countPasses(stateB);
  const issuerB = new FakeIssuer(a.dir);
  const b = new CertService({ ...a.deps, state: stateB, issuer: issuerB, nodeId: 'node-b' });
  t.after(() => b.stop());
  a.issuer.hold();
  issuerB.hold();
  await a.service.start();
  await b.start();
  await a.service.add('web', 'shop.example.test');
  await until(() => a.issuer.orders.length + issuerB.orders.length === 1, 5000, 'one order');
  await until(() => b.appFor('shop.example.test') === 'web', 5000, 'the other node to learn the hostname');
  // The other node keeps checking while the order is held; the claim keeps it out.
  await a.checks(3, [a.issuer.orders.length === 1 ? passesB : countPasses(a.state)]);
  assert.equal(a.issuer.orders.length + issuerB.orders.length, 1);
  a.issuer.release();
  issuerB.release();
  await until(() => a.service.contextFor('shop.example.test') !== undefined && b.contextFor('shop.example.test') !== undefined, 5000, 'both nodes to serve it');
  assert.equal(a.issuer.orders.length + issuerB.orders.length, 1);
  await a.service.remove('web', 'shop.example.test');
  await until(() => b.contextFor('shop.example.test') === undefined && b.appFor('shop.example.test') === undefined, 5000, 'the other node to drop it');
});
