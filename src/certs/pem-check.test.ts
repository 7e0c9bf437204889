import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { test } from 'node:test';
import { UserError } from '../core/errors.js';
import { checkImport, describeCertificate, splitChain } from './pem-check.js';
import { selfSigned, tempDir } from './test-support.js';

const DAY = 86_400_000;

function refusal(fn: () => unknown, code: string): UserError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(err.hint, 'a hint');
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err;
  }
  return assert.fail(`accepted; expected ${code}`);
}

test('a matching certificate and key for the hostname pass, and its facts are read', (t) => {
  const dir = tempDir(t);
  const { certPem, keyPem } = selfSigned(dir, { names: ['shop.example.test', 'www.example.test'], cn: 'Shop', days: 30 });
  const r = checkImport('www.example.test', certPem, keyPem, Date.now());
  assert.deepEqual(r.facts.names, ['shop.example.test', 'www.example.test']);
  assert.equal(r.facts.issuer, 'Shop');
  assert.match(r.facts.serial, /^[0-9a-f]+$/);
  assert.ok(Math.abs(r.facts.notAfter - (Date.now() + 30 * DAY)) < 2 * DAY);
  assert.match(r.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  assert.equal(splitChain(r.chainPem).length, 1);
  assert.deepEqual(describeCertificate(r.chainPem), r.facts);
});

test('a wildcard certificate covers a name below it; a certificate without SAN is judged by its CN', (t) => {
  const dir = tempDir(t);
  const wild = selfSigned(dir, { names: ['*.example.test'] });
  assert.ok(checkImport('shop.example.test', wild.certPem, wild.keyPem, Date.now()));
  refusal(() => checkImport('a.b.example.test', wild.certPem, wild.keyPem, Date.now()), 'certificate_wrong_host');
  const cnOnly = selfSigned(dir, { names: [], cn: 'legacy.example.test' });
  assert.deepEqual(checkImport('legacy.example.test', cnOnly.certPem, cnOnly.keyPem, Date.now()).facts.names, ['legacy.example.test']);
  refusal(() => checkImport('other.example.test', cnOnly.certPem, cnOnly.keyPem, Date.now()), 'certificate_wrong_host');
});

test('a key of another certificate is refused', (t) => {
  const dir = tempDir(t);
  const a = selfSigned(dir, { names: ['shop.example.test'] });
  const b = selfSigned(dir, { names: ['shop.example.test'] });
  const err = refusal(() => checkImport('shop.example.test', a.certPem, b.keyPem, Date.now()), 'certificate_key_mismatch');
  assert.match(err.message, /does not belong/);
});

test('a certificate for other names is refused, naming them', (t) => {
  const dir = tempDir(t);
  const c = selfSigned(dir, { names: ['a.example.test', 'b.example.test'] });
  const err = refusal(() => checkImport('shop.example.test', c.certPem, c.keyPem, Date.now()), 'certificate_wrong_host');
  assert.match(err.message, /a\.example\.test, b\.example\.test, not shop\.example\.test/);
});

test('an expired certificate is refused (judged by the clock given)', (t) => {
  const dir = tempDir(t);
  const c = selfSigned(dir, { names: ['shop.example.test'], days: 10 });
  const err = refusal(() => checkImport('shop.example.test', c.certPem, c.keyPem, Date.now() + 11 * DAY), 'certificate_expired');
  assert.match(err.message, /expired on \d{4}-/);
});

test('unparsable PEM, an empty file and an encrypted key are refused, each with its own code', (t) => {
  const dir = tempDir(t);
  const c = selfSigned(dir, { names: ['shop.example.test'] });
  refusal(() => checkImport('shop.example.test', 'hello', c.keyPem, Date.now()), 'certificate_unparsable');
  refusal(() => checkImport('shop.example.test', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', c.keyPem, Date.now()), 'certificate_unparsable');
  refusal(() => checkImport('shop.example.test', c.certPem, 'not a key', Date.now()), 'private_key_unparsable');
  refusal(() => checkImport('shop.example.test', c.certPem, c.certPem, Date.now()), 'private_key_unparsable');
  const encrypted = createPrivateKey(c.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }).toString();
  refusal(() => checkImport('shop.example.test', c.certPem, encrypted, Date.now()), 'private_key_encrypted');
});

test('a chain whose first certificate is not the key’s is refused as a mismatch, hinting at the order', (t) => {
  const dir = tempDir(t);
  const leaf = selfSigned(dir, { names: ['shop.example.test'] });
  const other = selfSigned(dir, { names: ['ca.example.test'] });
  const err = refusal(() => checkImport('shop.example.test', other.certPem + leaf.certPem, leaf.keyPem, Date.now()), 'certificate_key_mismatch');
  assert.match(err.hint!, /start with the hostname's certificate/);
  assert.equal(splitChain(checkImport('shop.example.test', leaf.certPem + other.certPem, leaf.keyPem, Date.now()).chainPem).length, 2, 'the whole chain is kept');
});
