import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseIgnore } from './ignore.js';
import { scanDirectory } from './snapshot.js';
import { tempDir, throwsWithCode, writeTree } from './test-support.js';

test('lists sorted entries with types, modes and sizes; dirs before their contents', (t) => {
  const dir = tempDir(t);
  writeTree(dir, {
    'b.txt': 'bee',
    'a-b/x': '',
    'a/run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'a/private': { dir: true, mode: 0o700 },
    'a/private/key': { content: 'k', mode: 0o600 },
  });
  const { entries, warnings } = scanDirectory(dir);
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    entries.map((e) => [e.path, e.type]),
    [
      ['a', 'dir'],
      ['a-b', 'dir'],
      ['a-b/x', 'file'],
      ['a/private', 'dir'],
      ['a/private/key', 'file'],
      ['a/run.sh', 'file'],
      ['b.txt', 'file'],
    ],
  );
  const byPath = new Map(entries.map((e) => [e.path, e]));
  assert.equal(byPath.get('a/run.sh')?.mode, 0o755);
  assert.equal(byPath.get('a/private')?.mode, 0o700);
  assert.equal(byPath.get('a/private/key')?.mode, 0o600);
  assert.equal(byPath.get('b.txt')?.size, 3);
  assert.equal(byPath.get('a')?.size, 0);
});

test('applies the ignore file, and keeps an excluded directory that holds a re-included path', (t) => {
  const dir = tempDir(t);
  writeTree(dir, {
    '.dockerignore': 'node_modules\n!node_modules/keep\n*.log\n',
    '.git/HEAD': 'ref',
    'app.js': '1',
    'debug.log': 'x',
    'node_modules/drop/i.js': 'x',
    'node_modules/keep/i.js': 'y',
  });
  const paths = scanDirectory(dir).entries.map((e) => e.path);
  assert.deepEqual(paths, ['.dockerignore', 'app.js', 'node_modules', 'node_modules/keep', 'node_modules/keep/i.js']);
});

test('an explicit matcher overrides the ignore file', (t) => {
  const dir = tempDir(t);
  writeTree(dir, { '.dockerignore': '*.js\n', 'a.js': '', 'b.txt': '' });
  const paths = scanDirectory(dir, parseIgnore('*.txt\n')).entries.map((e) => e.path);
  assert.deepEqual(paths, ['.dockerignore', 'a.js']);
});

test('keeps inner symlinks as written; makes absolute inner targets relative', (t) => {
  const dir = tempDir(t);
  writeTree(dir, {
    'lib/real.js': 'x',
    'lib/alias.js': { link: 'real.js' },
    'current': { link: 'lib' },
    'up/self': { link: '..' },
    'abs': { link: path.join(dir, 'lib', 'real.js') },
    'abs-root': { link: dir },
    'dangling-inside': { link: 'not-there' },
  });
  const { entries, warnings } = scanDirectory(dir);
  assert.deepEqual(warnings, []);
  const targets = Object.fromEntries(entries.filter((e) => e.type === 'symlink').map((e) => [e.path, e.target]));
  assert.deepEqual(targets, {
    abs: 'lib/real.js',
    'abs-root': '.',
    current: 'lib',
    'dangling-inside': 'not-there',
    'lib/alias.js': 'real.js',
    'up/self': '..',
  });
  for (const e of entries.filter((x) => x.type === 'symlink')) assert.equal(e.mode, 0o777);
});

test('skips symlinks that lead outside, naming each in a warning', (t) => {
  const dir = tempDir(t);
  const outside = tempDir(t);
  writeTree(outside, { 'secret.txt': 'do not ship' });
  writeTree(dir, {
    'ok.txt': 'x',
    'rel-out': { link: '../outside-thing' },
    'abs-out': { link: path.join(outside, 'secret.txt') },
    'dangling-out': { link: '/nonexistent/hangar/path' },
    'deep/climb': { link: '../../..' },
    'sub/up': { link: '..' },
    // Lexically inside (sub/up/.. looks like "sub"), but sub/up is the root, so this is its parent.
    'sneaky': { link: 'sub/up/..' },
  });
  const { entries, warnings } = scanDirectory(dir);
  const paths = entries.map((e) => e.path);
  assert.deepEqual(paths, ['deep', 'ok.txt', 'sub', 'sub/up']);
  for (const name of ['rel-out', 'abs-out', 'dangling-out', 'deep/climb', 'sneaky']) {
    assert.ok(warnings.some((w) => w.includes(JSON.stringify(name)) && w.includes('outside')), `no warning for ${name}: ${warnings.join('; ')}`);
  }
  assert.equal(warnings.length, 5);
});

test('never follows a symlinked directory', (t) => {
  const dir = tempDir(t);
  writeTree(dir, { 'inner/file': 'y', 'loop': { link: '.' }, 'inner/back': { link: '..' } });
  const paths = scanDirectory(dir).entries.map((e) => e.path);
  assert.deepEqual(paths, ['inner', 'inner/back', 'inner/file', 'loop']);
});

test('skips special files with a warning', (t) => {
  const dir = tempDir(t);
  writeTree(dir, { 'a.txt': 'x' });
  try {
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
  } catch {
    t.skip('mkfifo is not available here');
    return;
  }
  const { entries, warnings } = scanDirectory(dir);
  assert.deepEqual(entries.map((e) => e.path), ['a.txt']);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /"pipe".*fifo/);
});

test('a missing directory or a file is image_source_missing', (t) => {
  const dir = tempDir(t);
  fs.writeFileSync(path.join(dir, 'file'), '');
  throwsWithCode(() => scanDirectory(path.join(dir, 'nope')), 'image_source_missing');
  throwsWithCode(() => scanDirectory(path.join(dir, 'file')), 'image_source_missing');
  throwsWithCode(() => scanDirectory(path.join(dir, 'file', 'below')), 'image_source_missing');
});
