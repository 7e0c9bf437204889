import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { UserError } from '../core/errors.js';
import { openState, type State } from '../state/index.js';
import { SecretVault } from './vault.js';
import { errorCode } from '../core/test-support.js';

const VALUE = 'vault-test-value-7f3a';

async function setup(t: { after(fn: () => unknown): void }) {
  const home = mkdtempSync(join(tmpdir(), 'hangar-vault-'));
  const state = await openState(join(home, 'state.db'));
  t.after(async () => {
    await state.close();
    rmSync(home, { recursive: true, force: true });
  });
  await state.apps.insert({ id: 'app1', name: 'web', createdAt: new Date().toISOString(), routing: {} });
  let logged = '';
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => ((logged += c), cb()) }));
  const keyFile = join(home, 'secrets.key');
  const open = () => SecretVault.open({ state, keyFile, log });
  return { home, state, keyFile, open, logged: () => logged };
}

const codeOf = errorCode;

test('set, list, open: digests only in listings; setting the same value changes nothing', async (t) => {
  const s = await setup(t);
  const vault = await s.open();
  assert.ok(existsSync(s.keyFile), 'the key is created at first open');
  assert.deepEqual(await vault.forApp('web'), { values: {}, digest: '' });
  const r = await vault.apply('web', { set: { A: VALUE, B: 'x=y' }, unset: [] });
  assert.deepEqual(r.changed, ['A', 'B']);
  assert.match(r.digest, /^[0-9a-f]{64}$/);
  assert.deepEqual((await vault.forApp('web')).values, { A: VALUE, B: 'x=y' });
  assert.equal((await vault.forApp('web')).digest, r.digest);
  assert.ok(!JSON.stringify(await vault.list('web')).includes(VALUE));
  assert.deepEqual((await vault.apply('web', { set: { A: VALUE }, unset: [] })).changed, []);
  const after = await vault.apply('web', { set: {}, unset: ['B'] });
  assert.notEqual(after.digest, r.digest);
  assert.deepEqual(Object.keys((await vault.forApp('web')).values), ['A']);
  assert.equal(await codeOf(vault.list('nope')), 'app_not_found');
  assert.ok(!s.logged().includes(VALUE), 'no value in the log');
});

test('a missing key with secrets stored: a clear error, no new key, and restoring it works without a restart', async (t) => {
  const s = await setup(t);
  await (await s.open()).apply('web', { set: { A: VALUE }, unset: [] });
  copyFileSync(s.keyFile, `${s.keyFile}.bak`);
  unlinkSync(s.keyFile);
  const vault = await s.open();
  assert.ok(!existsSync(s.keyFile), 'never re-keyed while secrets exist');
  assert.equal(await codeOf(vault.list('web')), 'secrets_key_missing');
  assert.equal(await codeOf(vault.forApp('web')), 'secrets_key_missing');
  assert.equal(await codeOf(vault.apply('web', { set: { B: '1' }, unset: [] })), 'secrets_key_missing');
  copyFileSync(`${s.keyFile}.bak`, s.keyFile);
  assert.deepEqual((await vault.forApp('web')).values, { A: VALUE });
});

test('a corrupt or different key is refused; unsetting still works, and then a new key may be made', async (t) => {
  const s = await setup(t);
  await (await s.open()).apply('web', { set: { A: VALUE }, unset: [] });
  writeFileSync(s.keyFile, 'garbage');
  let vault = await s.open();
  assert.equal(await codeOf(vault.forApp('web')), 'secrets_key_invalid');
  writeFileSync(s.keyFile, Buffer.alloc(32, 1));
  vault = await s.open();
  assert.equal(await codeOf(vault.list('web')), 'secrets_key_invalid', 'a key of the right size but not the one used');
  await vault.apply('web', { set: {}, unset: ['A'] });
  unlinkSync(s.keyFile);
  await vault.apply('web', { set: { A: 'new' }, unset: [] });
  assert.ok(existsSync(s.keyFile), 'with nothing stored, a new key is made');
  assert.deepEqual((await vault.forApp('web')).values, { A: 'new' });
});

test('a stored value that does not decrypt is a clear error naming the secret, not the value', async (t) => {
  const s = await setup(t);
  const vault = await s.open();
  await vault.apply('web', { set: { A: VALUE }, unset: [] });
  const moved = (await (s.state as State).secrets.list('app1'))[0]!;
  // The same ciphertext under another name must not open (it is bound to its app and name).
  await s.state.secrets.apply('app1', { upsert: [{ ...moved, name: 'B' }], remove: [] });
  await assert.rejects(vault.forApp('web'), (err: UserError) => err.code === 'secret_decrypt_failed' && /secret B of app web cannot be decrypted/.test(err.message) && !err.message.includes(VALUE));
});
