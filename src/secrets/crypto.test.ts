import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { appDigest, SealError, sealedBytes, SecretsKey, shortDigest } from './crypto.js';

const key = () => SecretsKey.generate().key;

test('a sealed value opens to itself, with a fresh 12-byte IV each time', () => {
  const k = key();
  const value = 'postgres://u:p=ss@db/x ✓ ' + 'z'.repeat(1000);
  const a = k.seal(value, 'app1:DB');
  const b = k.seal(value, 'app1:DB');
  assert.notEqual(a, b, 'the same value seals differently');
  assert.equal(Buffer.from(a.split(':')[1]!, 'base64').length, 12);
  assert.notEqual(a.split(':')[1], b.split(':')[1]);
  assert.equal(k.open(a, 'app1:DB'), value);
  assert.equal(k.open(k.seal('', 'c'), 'c'), '', 'an empty value round-trips');
  assert.equal(sealedBytes(a), Buffer.byteLength(value));
  assert.ok(!a.includes('postgres'), 'no plaintext in the sealed text');
});

test('opening fails clearly with another key, another context, or an altered byte', () => {
  const k = key();
  const sealed = k.seal('hunter2', 'app1:PASSWORD');
  assert.throws(() => key().open(sealed, 'app1:PASSWORD'), SealError);
  assert.throws(() => k.open(sealed, 'app2:PASSWORD'), SealError, 'bound to its app');
  assert.throws(() => k.open(sealed, 'app1:OTHER'), SealError, 'bound to its name');
  const [v, iv, ct, tag] = sealed.split(':');
  const flipped = Buffer.from(ct!, 'base64');
  flipped[0]! ^= 1;
  assert.throws(() => k.open([v, iv, flipped.toString('base64'), tag].join(':'), 'app1:PASSWORD'), /authentication failed/);
  assert.throws(() => k.open('garbage', 'app1:PASSWORD'), /known format/);
  assert.throws(() => k.open(`v1:${iv}:${ct}:AAAA`, 'app1:PASSWORD'), /malformed/);
  for (const fn of [() => key().open(sealed, 'app1:PASSWORD'), () => k.open(sealed, 'x')]) {
    try {
      fn();
    } catch (err) {
      assert.ok(!String((err as Error).message).includes('hunter2'));
    }
  }
});

test('value digests are keyed: stable under one key, different under another, never the value', () => {
  const master = Buffer.alloc(32, 7);
  const a = new SecretsKey(master);
  const b = new SecretsKey(Buffer.from(master));
  assert.equal(a.digest('1234'), b.digest('1234'), 'the same key bytes give the same digest');
  assert.equal(a.id, b.id);
  assert.notEqual(a.digest('1234'), key().digest('1234'), 'another key, another digest');
  assert.notEqual(a.digest('1234'), a.digest('1235'));
  assert.match(a.digest('1234'), /^[0-9a-f]{64}$/);
  assert.equal(shortDigest(a.digest('1234')).length, 16);
  assert.throws(() => new SecretsKey(Buffer.alloc(31)), /32 bytes/);
});

test('the app digest is empty for no secrets, order-independent, and changes with any value', () => {
  assert.equal(appDigest([]), '');
  const x = [{ name: 'A', digest: 'd1' }, { name: 'B', digest: 'd2' }];
  assert.equal(appDigest(x), appDigest([...x].reverse()));
  assert.notEqual(appDigest(x), appDigest([{ name: 'A', digest: 'd1' }, { name: 'B', digest: 'd3' }]));
  assert.notEqual(appDigest(x), appDigest([{ name: 'A', digest: 'd1' }]));
  assert.notEqual(appDigest([{ name: 'AB', digest: 'c' }]), appDigest([{ name: 'A', digest: 'Bc' }]), 'name and digest cannot run together');
});

test('a key prints as its id only', () => {
  const k = key();
  assert.equal(JSON.stringify({ k }), JSON.stringify({ k: `[SecretsKey ${k.id}]` }));
  assert.equal(inspect(k), `[SecretsKey ${k.id}]`);
});
