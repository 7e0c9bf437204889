import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createKeyFile, readKeyFile } from './key-file.js';

const dir = (t: { after(fn: () => void): void }) => {
  const d = mkdtempSync(join(tmpdir(), 'hangar-key-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
};

test('a new key file is 32 random bytes, mode 0600, and reads back as the same key', (t) => {
  const file = join(dir(t), 'secrets.key');
  const key = createKeyFile(file);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readFileSync(file).length, 32);
  const read = readKeyFile(file);
  assert.equal(read.kind, 'ok');
  assert.equal(read.kind === 'ok' && read.key.id, key.id);
  assert.equal(read.kind === 'ok' && read.looseMode, 0);
});

test('an existing key file is never replaced', (t) => {
  const file = join(dir(t), 'secrets.key');
  writeFileSync(file, 'not a key');
  assert.throws(() => createKeyFile(file), { code: 'EEXIST' });
  assert.equal(readFileSync(file, 'utf8'), 'not a key');
});

test('missing and wrong-sized files are told apart', (t) => {
  const d = dir(t);
  assert.deepEqual(readKeyFile(join(d, 'none')), { kind: 'missing' });
  writeFileSync(join(d, 'short'), Buffer.alloc(31));
  assert.deepEqual(readKeyFile(join(d, 'short')), { kind: 'invalid', reason: 'holds 31 bytes, not the 32 of a key' });
  writeFileSync(join(d, 'loose'), Buffer.alloc(32), { mode: 0o644 });
  const loose = readKeyFile(join(d, 'loose'));
  assert.ok(loose.kind === 'ok' && loose.looseMode !== 0);
});
