import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  DIGEST_PATTERN,
  canonicalJson,
  computeManifest,
  createManifest,
  digestOf,
  parseManifest,
  type ManifestEntry,
} from './manifest.js';
import { tempDir, throwsWithCode, writeTree } from './test-support.js';

const SAMPLE = {
  'index.js': 'console.log(1)\n',
  'lib/util.js': 'export {}\n',
  'lib/link.js': { link: 'util.js' },
  'bin/run': { content: '#!/bin/sh\n', mode: 0o755 },
} as const;

test('the same content gives the same digest, whatever the mtimes and creation order', async (t) => {
  const a = tempDir(t);
  const b = tempDir(t);
  writeTree(a, SAMPLE);
  // Reverse creation order and different timestamps.
  writeTree(b, Object.fromEntries(Object.entries(SAMPLE).reverse()));
  fs.utimesSync(path.join(b, 'index.js'), new Date(0), new Date(0));
  const ma = await computeManifest(a);
  const mb = await computeManifest(b);
  assert.match(ma.digest, DIGEST_PATTERN);
  assert.equal(ma.digest, mb.digest);
  assert.deepEqual(ma.manifest, mb.manifest);
});

test('a changed byte, mode, name or link target changes the digest', async (t) => {
  const base = tempDir(t);
  writeTree(base, SAMPLE);
  const original = (await computeManifest(base)).digest;

  const variants: Array<[string, (dir: string) => void]> = [
    ['one byte', (d) => fs.writeFileSync(path.join(d, 'index.js'), 'console.log(2)\n')],
    ['mode', (d) => fs.chmodSync(path.join(d, 'bin/run'), 0o700)],
    ['name', (d) => fs.renameSync(path.join(d, 'index.js'), path.join(d, 'main.js'))],
    ['link target', (d) => {
      fs.unlinkSync(path.join(d, 'lib/link.js'));
      fs.symlinkSync('./util.js', path.join(d, 'lib/link.js'));
    }],
    ['empty dir added', (d) => fs.mkdirSync(path.join(d, 'empty'))],
  ];
  for (const [what, change] of variants) {
    const dir = tempDir(t);
    writeTree(dir, SAMPLE);
    change(dir);
    assert.notEqual((await computeManifest(dir)).digest, original, `changing the ${what} must change the digest`);
  }
});

test('createManifest sorts and drops stray fields, so the digest is order- and shape-independent', () => {
  const entries: ManifestEntry[] = [
    { path: 'b', type: 'file', mode: 0o644, size: 1, sha256: 'a'.repeat(64) },
    { path: 'a', type: 'dir', mode: 0o755, size: 0 },
    { path: 'a/x', type: 'symlink', mode: 0o777, size: 0, target: '../b' },
  ];
  const withExtra = entries.map((e) => ({ ...e, mtime: Date.now() }) as ManifestEntry);
  const m1 = createManifest(entries);
  const m2 = createManifest([...withExtra].reverse());
  assert.deepEqual(m1.entries.map((e) => e.path), ['a', 'a/x', 'b']);
  assert.equal(digestOf(m1), digestOf(m2));
});

test('canonicalJson sorts keys at every level and skips undefined', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 'x', c: undefined, b: null }] }), '{"a":[{"b":null,"d":"x"}],"b":1}');
});

test('parseManifest accepts what createManifest makes and rejects damage with image_corrupt', () => {
  const good = createManifest([{ path: 'a', type: 'file', mode: 0o644, size: 0, sha256: 'e'.repeat(64) }]);
  assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(good)), 'test'), good);
  throwsWithCode(() => parseManifest({ version: 2, entries: [] }, 'test'), 'image_corrupt');
  throwsWithCode(() => parseManifest({ version: 1, entries: [{ path: '../x', type: 'dir', mode: 0, size: 0 }] }, 'test'), 'image_corrupt');
  throwsWithCode(() => parseManifest({ version: 1, entries: [{ path: 'x', type: 'file', mode: 0, size: 0 }] }, 'test'), 'image_corrupt');
});

test('computeManifest on a missing directory is image_source_missing', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(computeManifest(path.join(dir, 'nope')), (err: { code?: string }) => err.code === 'image_source_missing');
});
