import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { computeManifest } from './manifest.js';
import { packDirectory, unpackStream } from './stream.js';
import { CORRUPT_CASES, readAll, rejectsWithCode, streamOf, tempDir, validBody, writeTree } from './test-support.js';

function buildSample(dir: string): Buffer {
  const big = randomBytes(700_000); // spans many read and gzip chunks
  writeTree(dir, {
    'package.json': '{"name":"demo"}\n',
    'empty.txt': '',
    'bin/start': { content: '#!/bin/sh\necho hi\n', mode: 0o755 },
    'conf/secret.env': { content: 'TOKEN=1\n', mode: 0o600 },
    'data/blob.bin': big,
    'data/nested/deeper/ünïcode name.txt': 'snowman ☃',
    'locked': { dir: true, mode: 0o750 },
    'locked/inside.txt': 'x',
    'current': { link: 'data' },
    'data/nested/up': { link: '../blob.bin' },
  });
  return big;
}

test('pack → unpack round trip preserves content, modes and inner symlinks', async (t) => {
  const src = tempDir(t);
  const dest = path.join(tempDir(t), 'out');
  const big = buildSample(src);

  const packed = packDirectory(src);
  assert.deepEqual(packed.warnings, []);
  const result = await unpackStream(packed.stream, dest);

  const read = (p: string) => fs.readFileSync(path.join(dest, p));
  assert.deepEqual(read('data/blob.bin'), big);
  assert.equal(read('data/nested/deeper/ünïcode name.txt').toString(), 'snowman ☃');
  assert.equal(read('empty.txt').length, 0);
  const mode = (p: string) => fs.lstatSync(path.join(dest, p)).mode & 0o777;
  assert.equal(mode('bin/start'), 0o755);
  assert.equal(mode('conf/secret.env'), 0o600);
  assert.equal(mode('package.json'), 0o644 & ~process.umask());
  assert.equal(mode('locked'), 0o750);
  assert.equal(fs.readlinkSync(path.join(dest, 'current')), 'data');
  assert.deepEqual(read('current/nested/up'), big);

  const local = await computeManifest(src);
  assert.equal(result.digest, local.digest, 'the receiver computes the same digest as the sender');
  assert.equal(result.fileCount, 7);
  assert.equal(result.sizeBytes, local.manifest.entries.reduce((n, e) => n + e.size, 0));
  assert.ok(result.sizeBytes > big.length);
  const blob = result.manifest.entries.find((e) => e.path === 'data/blob.bin');
  assert.match(blob?.sha256 ?? '', /^[0-9a-f]{64}$/);
});

test('the stream is the documented line format, and a symlink to outside is left out with a warning', async (t) => {
  const src = tempDir(t);
  writeTree(src, { 'a.txt': 'hello', 'leak': { link: '/etc/passwd' } });
  const { stream, warnings } = packDirectory(src);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /"leak"/);
  const text = gunzipSync(await readAll(stream)).toString();
  assert.equal(
    text,
    '{"format":"hangar-snapshot","version":1}\n' +
      '{"path":"a.txt","type":"file","mode":' + (fs.statSync(path.join(src, 'a.txt')).mode & 0o777) + ',"size":5}\nhello' +
      '{"end":true}\n',
  );
});

test('a file that shrinks after the scan makes the pack stream fail with image_source_changed', async (t) => {
  const src = tempDir(t);
  writeTree(src, { 'a.txt': 'x'.repeat(1000) });
  const { stream } = packDirectory(src);
  fs.writeFileSync(path.join(src, 'a.txt'), 'short');
  await rejectsWithCode(readAll(stream), 'image_source_changed', /"a\.txt"/);
});

test('a file that grows after the scan is cut at its scanned size', async (t) => {
  const src = tempDir(t);
  const dest = path.join(tempDir(t), 'out');
  writeTree(src, { 'a.txt': 'abc' });
  const { stream } = packDirectory(src);
  fs.appendFileSync(path.join(src, 'a.txt'), 'def');
  await unpackStream(stream, dest);
  assert.equal(fs.readFileSync(path.join(dest, 'a.txt'), 'utf8'), 'abc');
});

for (const c of CORRUPT_CASES) {
  test(`unpack rejects a corrupt stream: ${c.name}`, async (t) => {
    const dest = path.join(tempDir(t), 'out');
    await rejectsWithCode(unpackStream(streamOf(c.body()), dest), 'image_corrupt', c.message);
  });
}

test('the known-good fixture body unpacks (so the corrupt cases fail for their own reasons)', async (t) => {
  const dest = path.join(tempDir(t), 'out');
  const result = await unpackStream(streamOf(validBody()), dest);
  assert.equal(fs.readlinkSync(path.join(dest, 'app/l')), 'a.txt');
  assert.equal(result.fileCount, 1);
});

test('an upload cut off without an error (premature close) is image_corrupt, not a hang', async (t) => {
  const dest = path.join(tempDir(t), 'out');
  const input = new PassThrough();
  input.write(validBody().subarray(0, 20));
  setImmediate(() => input.destroy());
  await rejectsWithCode(unpackStream(input, dest), 'image_corrupt', /cut off/);
});

test('an input error is passed through unchanged', async (t) => {
  const dest = path.join(tempDir(t), 'out');
  const boom = new Error('socket reset');
  const input = new Readable({
    read() {
      this.destroy(boom);
    },
  });
  await assert.rejects(unpackStream(input, dest), (err) => err === boom);
});

test('after a rejected stream the input is drained, not destroyed', { timeout: 10_000 }, async (t) => {
  const dest = path.join(tempDir(t), 'out');
  const input = new PassThrough();
  const errors: unknown[] = [];
  input.on('error', (err) => errors.push(err));
  const done = unpackStream(input, dest);
  input.write(Buffer.from('garbage, not gzip'));
  await rejectsWithCode(done, 'image_corrupt');
  // More than a PassThrough buffers: only a reader that keeps consuming lets this finish.
  input.end(Buffer.alloc(1_000_000));
  await new Promise((resolve) => input.on('end', resolve));
  assert.deepEqual(errors, []);
});

test('unpack refuses a non-empty destination (a programming error, not a user one)', async (t) => {
  const dest = tempDir(t);
  fs.writeFileSync(path.join(dest, 'x'), '');
  await assert.rejects(unpackStream(streamOf(validBody()), dest), /not empty/);
});
