import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseIgnore } from './ignore.js';
import { computeManifest } from './manifest.js';
import { ImageStore } from './store.js';
import { packDirectory } from './stream.js';
import { CORRUPT_CASES, makeWritable, rejectsWithCode, streamOf, tempDir, throwsWithCode, writeTree } from './test-support.js';

function setup(t: TestContext): { store: ImageStore; root: string; src: string } {
  const root = path.join(tempDir(t, 'hangar-store-'), 'images');
  const src = tempDir(t, 'hangar-src-');
  writeTree(src, {
    'server.js': 'require("http")\n',
    'public/index.html': '<h1>hi</h1>\n',
    'bin/start': { content: '#!/bin/sh\n', mode: 0o755 },
    'web': { link: 'public' },
  });
  return { store: new ImageStore(root), root, src };
}

/** Every path under `dir`, relative; used to prove a failed import left nothing behind. */
function listTree(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

test('importDirectory stores a read-only rootfs under its digest, with its manifest', async (t) => {
  const { store, root, src } = setup(t);
  const image = await store.importDirectory(src);
  assert.equal(image.digest, (await computeManifest(src)).digest);
  assert.equal(image.rootfs, path.join(root, 'sha256', image.digest.slice(7), 'rootfs'));
  assert.equal(image.rootfs, store.rootfsPath(image.digest));
  assert.equal(image.fileCount, 3);
  assert.equal(image.sizeBytes, 16 + 12 + 10);
  assert.deepEqual(image.warnings, []);
  assert.equal(await store.has(image.digest), true);

  assert.equal(fs.readFileSync(path.join(image.rootfs, 'web/index.html'), 'utf8'), '<h1>hi</h1>\n');
  const mode = (p: string) => fs.lstatSync(path.join(image.rootfs, p)).mode & 0o777;
  assert.equal(mode('.'), 0o555);
  assert.equal(mode('public'), 0o555);
  assert.equal(mode('bin/start'), 0o555);
  assert.equal(mode('server.js'), (fs.statSync(path.join(src, 'server.js')).mode & 0o777) & ~0o222);
  const manifest = await store.readManifest(image.digest);
  assert.deepEqual(manifest, (await computeManifest(src)).manifest);
  assert.deepEqual(listTree(path.join(root, 'tmp')), [], 'no staging leftovers');
  await store.verify(image.digest, { deep: true });
});

test('importDirectory honours a given matcher and reports scan warnings', async (t) => {
  const { store, src } = setup(t);
  writeTree(src, { 'debug.log': 'x', 'leak': { link: '/etc/hostname' } });
  const image = await store.importDirectory(src, parseIgnore('*.log\n'));
  assert.equal(fs.existsSync(path.join(image.rootfs, 'debug.log')), false);
  assert.equal(image.warnings.length, 1);
  assert.match(image.warnings[0]!, /"leak"/);
});

test('importStream of the same content twice dedupes to one image', async (t) => {
  const { store, root, src } = setup(t);
  const first = await store.importStream(packDirectory(src).stream);
  const second = await store.importStream(packDirectory(src).stream);
  assert.deepEqual(second, first);
  assert.deepEqual(fs.readdirSync(path.join(root, 'sha256')), [first.digest.slice(7)]);
  assert.deepEqual(listTree(path.join(root, 'tmp')), []);
  assert.deepEqual(await store.list(), [first]);
});

test('a changed byte gives a second image', async (t) => {
  const { store, src } = setup(t);
  const first = await store.importDirectory(src);
  fs.writeFileSync(path.join(src, 'server.js'), 'require("https")\n');
  const second = await store.importDirectory(src);
  assert.notEqual(second.digest, first.digest);
  assert.deepEqual((await store.list()).map((i) => i.digest).sort(), [first.digest, second.digest].sort());
});

for (const c of CORRUPT_CASES) {
  test(`a corrupt upload (${c.name}) is image_corrupt and leaves nothing in the store`, async (t) => {
    const { store, root } = setup(t);
    await rejectsWithCode(store.importStream(streamOf(c.body())), 'image_corrupt', c.message);
    assert.deepEqual(listTree(path.join(root, 'sha256')), []);
    assert.deepEqual(listTree(path.join(root, 'tmp')), []);
    assert.deepEqual(await store.list(), []);
  });
}

test('a missing source directory is image_source_missing', async (t) => {
  const { store, root } = setup(t);
  await rejectsWithCode(store.importDirectory(path.join(root, 'nope')), 'image_source_missing');
});

test('verify detects a deleted file', async (t) => {
  const { store, src } = setup(t);
  const image = await store.importDirectory(src);
  makeWritable(image.rootfs);
  fs.unlinkSync(path.join(image.rootfs, 'public/index.html'));
  await rejectsWithCode(store.verify(image.digest), 'image_corrupt', /"public\/index\.html" is missing/);
});

test('verify detects a truncated file', async (t) => {
  const { store, src } = setup(t);
  const image = await store.importDirectory(src);
  makeWritable(image.rootfs);
  fs.truncateSync(path.join(image.rootfs, 'server.js'), 3);
  await rejectsWithCode(store.verify(image.digest), 'image_corrupt', /"server\.js" has 3 bytes/);
});

test('verify detects a retargeted symlink and, with deep, a same-size edit', async (t) => {
  const { store, src } = setup(t);
  const image = await store.importDirectory(src);
  makeWritable(image.rootfs);
  fs.writeFileSync(path.join(image.rootfs, 'server.js'), 'require("xxxx")\n');
  await store.verify(image.digest); // same size: the cheap check cannot tell
  await rejectsWithCode(store.verify(image.digest, { deep: true }), 'image_corrupt', /"server\.js"/);
  fs.unlinkSync(path.join(image.rootfs, 'web'));
  fs.symlinkSync('bin', path.join(image.rootfs, 'web'));
  await rejectsWithCode(store.verify(image.digest), 'image_corrupt', /"web" points to "bin"/);
});

test('verify of an unknown image, or one whose rootfs vanished, is image_missing', async (t) => {
  const { store, src } = setup(t);
  await rejectsWithCode(store.verify(`sha256:${'0'.repeat(64)}`), 'image_missing', /sha256:0{64} is missing from the store/);
  const image = await store.importDirectory(src);
  makeWritable(image.rootfs);
  fs.rmSync(image.rootfs, { recursive: true });
  await rejectsWithCode(store.verify(image.digest), 'image_missing');
});

test('re-uploading repairs a damaged image instead of deduping onto it', async (t) => {
  const { store, src } = setup(t);
  const image = await store.importDirectory(src);
  makeWritable(image.rootfs);
  fs.unlinkSync(path.join(image.rootfs, 'server.js'));
  const again = await store.importStream(packDirectory(src).stream);
  assert.equal(again.digest, image.digest);
  await store.verify(image.digest, { deep: true });
});

test('remove deletes a read-only image; removing again reports false', async (t) => {
  const { store, root, src } = setup(t);
  const image = await store.importDirectory(src);
  assert.equal(await store.remove(image.digest), true);
  assert.equal(await store.has(image.digest), false);
  assert.equal(await store.remove(image.digest), false);
  assert.deepEqual(listTree(path.join(root, 'sha256')), []);
  assert.deepEqual(listTree(path.join(root, 'tmp')), []);
  await rejectsWithCode(store.get(image.digest), 'image_missing');
});

test('digests are validated before they become paths', async (t) => {
  const { store } = setup(t);
  for (const bad of ['sha256:../../etc', 'sha256:ABC', `sha512:${'0'.repeat(64)}`, `${'0'.repeat(64)}`, `sha256:${'0'.repeat(64)}/x`]) {
    throwsWithCode(() => store.rootfsPath(bad), 'invalid_image_digest');
    await rejectsWithCode(store.has(bad).then(() => store.remove(bad)), 'invalid_image_digest');
    await rejectsWithCode(store.verify(bad), 'invalid_image_digest');
  }
});

test('list on an empty store, and cleanTemp removes interrupted imports', async (t) => {
  const { store, root } = setup(t);
  assert.deepEqual(await store.list(), []);
  fs.mkdirSync(path.join(root, 'tmp', 'import-crashed', 'rootfs', 'sub'), { recursive: true });
  fs.chmodSync(path.join(root, 'tmp', 'import-crashed', 'rootfs'), 0o555);
  await store.cleanTemp();
  assert.equal(fs.existsSync(path.join(root, 'tmp')), false);
});
