import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadIgnore, parseIgnore, type IgnoreMatcher } from './ignore.js';
import { tempDir, throwsWithCode } from './test-support.js';

/** Asserts a table of `path → ignored?`; a trailing `/` in the key marks a directory. */
function expectIgnores(m: IgnoreMatcher, table: Record<string, boolean>): void {
  for (const [key, expected] of Object.entries(table)) {
    const isDir = key.endsWith('/');
    const rel = isDir ? key.slice(0, -1) : key;
    assert.equal(m.ignores(rel, isDir), expected, `${key} should ${expected ? '' : 'not '}be ignored`);
  }
}

test('no patterns: nothing but .git is ignored, at any depth', () => {
  expectIgnores(parseIgnore(''), {
    'a.txt': false,
    'src/': false,
    '.gitignore': false,
    '.git/': true,
    '.git/HEAD': true,
    '.git': true, // a worktree's .git file
    'vendor/lib/.git/config': true,
    '': false,
  });
});

test('.git cannot be re-included', () => {
  const m = parseIgnore('!.git\n!.git/**\n');
  expectIgnores(m, { '.git/': true, '.git/HEAD': true });
  assert.equal(m.mayReincludeUnder('.git'), false);
});

test('comments, blank lines, whitespace, CRLF and a BOM', () => {
  const m = parseIgnore('\uFEFF# a comment\r\n\r\n   \r\n  secret.env  \r\n #not-a-comment\r\n');
  expectIgnores(m, { 'secret.env': true, '# a comment': false, '#not-a-comment': true });
});

test('patterns are relative to the root: * does not cross directories', () => {
  expectIgnores(parseIgnore('*.log\n'), { 'a.log': true, 'sub/a.log': false, 'a.log.txt': false, '.log': true });
});

test('** matches any number of directories', () => {
  expectIgnores(parseIgnore('**/*.log\n'), { 'a.log': true, 'x/a.log': true, 'x/y/z/a.log': true, 'a.txt': false });
  expectIgnores(parseIgnore('a/**/b\n'), { 'a/b': true, 'a/x/b': true, 'a/x/y/b': true, 'ab/b': false, 'a/xb': false });
  expectIgnores(parseIgnore('logs/**\n'), { 'logs/': false, 'logs/x': true, 'logs/x/y.txt': true, 'logs2/x': false });
  expectIgnores(parseIgnore('**\n'), { a: true, 'a/b/': true });
});

test('? matches exactly one character, never a slash', () => {
  expectIgnores(parseIgnore('file?.txt\na?b\n'), { 'file1.txt': true, 'file.txt': false, 'file12.txt': false, 'a/b': false, 'axb': true });
});

test('a leading slash changes nothing (everything is anchored)', () => {
  for (const text of ['/build\n', 'build\n', './build\n']) {
    expectIgnores(parseIgnore(text), { 'build/': true, 'build/out.js': true, 'src/build/': false });
  }
});

test('a matched directory excludes its whole subtree', () => {
  expectIgnores(parseIgnore('node_modules\nsrc/generated\n'), {
    'node_modules/': true,
    'node_modules/a/b/c.js': true,
    'src/generated/x.ts': true,
    'src/main.ts': false,
    'lib/node_modules/': false,
  });
});

test('a trailing slash matches directories only', () => {
  expectIgnores(parseIgnore('build/\ncache/\n'), {
    'build/': true,
    'build/x.js': true,
    build: false,
    'cache/deep/file': true,
  });
});

test('! re-includes, and the last matching line wins', () => {
  expectIgnores(parseIgnore('*.md\n!README.md\n'), { 'CHANGES.md': true, 'README.md': false });
  expectIgnores(parseIgnore('!keep.txt\n*.txt\n'), { 'keep.txt': true, 'other.txt': true });
  expectIgnores(parseIgnore('*\n!src\n!package.json\n'), {
    'src/': false,
    'src/index.ts': false,
    'package.json': false,
    'README.md': true,
    'test/': true,
  });
});

test('! re-includes inside an excluded directory, and says when a walker must descend', () => {
  const m = parseIgnore('node_modules\n!node_modules/keep\ndist\n');
  expectIgnores(m, {
    'node_modules/': true,
    'node_modules/other/x.js': true,
    'node_modules/keep/': false,
    'node_modules/keep/index.js': false,
  });
  assert.equal(m.mayReincludeUnder('node_modules'), true);
  assert.equal(m.mayReincludeUnder('node_modules/other'), false);
  assert.equal(m.mayReincludeUnder('dist'), false);
  assert.equal(parseIgnore('x\n!**/keep\n').mayReincludeUnder('x/y/z'), true);
});

test('character classes, ranges, negation and escapes', () => {
  expectIgnores(parseIgnore('[abc].txt\n'), { 'a.txt': true, 'c.txt': true, 'd.txt': false });
  expectIgnores(parseIgnore('v[0-9]\n'), { v1: true, v9: true, vx: false, v10: false });
  expectIgnores(parseIgnore('[!a]x\n'), { bx: true, ax: false });
  expectIgnores(parseIgnore('[^a]x\n'), { bx: true, ax: false });
  expectIgnores(parseIgnore('[a-]z\n'), { az: true, '-z': true, bz: false });
  expectIgnores(parseIgnore('\\*literal\nq\\?\n'), { '*literal': true, xliteral: false, 'q?': true, qx: false });
  expectIgnores(parseIgnore('a.b\n'), { 'a.b': true, axb: false });
});

test('bad patterns are reported with their line', () => {
  throwsWithCode(() => parseIgnore('ok\n[abc\n'), 'invalid_ignore_pattern');
  throwsWithCode(() => parseIgnore('[z-a]\n'), 'invalid_ignore_pattern');
  throwsWithCode(() => parseIgnore('trailing\\\n'), 'invalid_ignore_pattern');
  assert.throws(() => parseIgnore('ok\n[abc\n', '.hangarignore'), /\.hangarignore line 2/);
});

test('patterns that can never match inside the root are dropped', () => {
  expectIgnores(parseIgnore('../x\n/\n.\n!\n'), { x: false, a: false });
  expectIgnores(parseIgnore('a/../b\n'), { b: true, a: false });
});

test('loadIgnore prefers .hangarignore, falls back to .dockerignore, else ignores only .git', (t) => {
  const dir = tempDir(t);
  assert.equal(loadIgnore(dir).ignores('x.log', false), false);
  assert.equal(loadIgnore(dir).ignores('.git', true), true);

  fs.writeFileSync(path.join(dir, '.dockerignore'), '*.log\n');
  assert.equal(loadIgnore(dir).ignores('x.log', false), true);

  fs.writeFileSync(path.join(dir, '.hangarignore'), '*.tmp\n');
  const m = loadIgnore(dir);
  assert.equal(m.ignores('x.tmp', false), true);
  assert.equal(m.ignores('x.log', false), false);
});
