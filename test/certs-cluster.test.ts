/**
 * The certificate store on a cluster's PostgreSQL: two nodes, each with its own change feed, check for
 * work every 50 ms; a certificate is ordered by one of them only, and the other learns of the
 * hostname, then of its certificate, and of its removal through the feed (the periodic sync is set
 * too slow to be what carries them).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CertService } from '../src/certs/index.js';
import { captureLog, countPasses, FakeIssuer, tempDir, until } from '../src/certs/test-support.js';
import { SecretVault } from '../src/secrets/vault.js';
import { PgFeed } from '../src/state/feed.js';
import { openState, type State } from '../src/state/index.js';
import { postgresAvailable, startPostgres } from './support/postgres.js';

const available = postgresAvailable();

test('two nodes on PostgreSQL: one orders, the feed tells the other', { skip: available.ok ? false : available.reason, timeout: 60_000 }, async (t) => {
  // Undone in reverse: services, then states, then the server.
  const undo: Array<() => unknown> = [];
  t.after(async () => {
    for (const fn of undo.reverse()) await fn();
  });
  const ctx = { after: (fn: () => unknown) => undo.push(fn) };
  const pg = await startPostgres(ctx);
  const url = pg.url(await pg.createDatabase());
  const dir = tempDir(t);
  const { log, text } = captureLog();
  const node = async (name: string) => {
    const state: State = await openState({ kind: 'postgres', url, waitMs: 15_000 });
    undo.push(() => state.close());
    const vault = await SecretVault.open({ state, keyFile: join(dir, 'secrets.key'), log });
    const issuer = new FakeIssuer(dir);
    const feed = new PgFeed({ db: state.db, url, hostId: () => name, onError: (err) => log.warn({ err }, 'feed') });
    const service = new CertService({ state, vault, log, acme: { directoryUrl: 'https://ca.invalid/dir' }, dnsTargets: () => ['127.0.0.1'], nodeId: name, feed, syncIntervalMs: 600_000, checkIntervalMs: 50, issuer });
    undo.push(() => service.stop());
    return { state, issuer, service, passes: countPasses(state) };
  };
  const a = await node('node-a');
  await a.state.apps.insert({ id: 'app_web', name: 'web', createdAt: new Date().toISOString(), routing: {} });
  const b = await node('node-b');
  a.issuer.hold();
  b.issuer.hold();
  await a.service.start();
  await b.service.start();

  await a.service.add('web', 'shop.example.test');
  await until(() => b.service.appFor('shop.example.test') === 'web', 5000, 'node b to hear of the hostname');
  await until(() => a.issuer.orders.length + b.issuer.orders.length === 1, 5000, 'one order');
  const idle = a.issuer.orders.length === 1 ? b : a;
  const base = idle.passes();
  await until(() => idle.passes() >= base + 5, 5000, 'five checks on the node not ordering');
  assert.equal(a.issuer.orders.length + b.issuer.orders.length, 1, 'the claim kept the other node out');
  a.issuer.release();
  b.issuer.release();
  await until(() => a.service.contextFor('shop.example.test') !== undefined && b.service.contextFor('shop.example.test') !== undefined, 5000, 'both nodes to serve it').catch((err) => assert.fail(`${err}\n${text()}`));
  assert.equal(a.issuer.orders.length + b.issuer.orders.length, 1);
  assert.equal((await b.service.show('web', 'shop.example.test')).status, 'issued');

  await b.service.remove('web', 'shop.example.test');
  await until(() => a.service.contextFor('shop.example.test') === undefined && a.service.appFor('shop.example.test') === undefined, 5000, 'node a to drop it');
});
