/**
 * Shared fixtures for the images tests: temp dirs cleaned up even on failure, a tree builder, and the
 * catalogue of hostile snapshot streams that both `unpackStream` and `ImageStore` must reject.
 * Test-only; nothing in the module imports it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isUserError } from '../core/errors.js';

/** A fresh temp dir removed (read-only parts included) when the test ends, pass or fail. */
export function tempDir(t: TestContext, prefix = 'hangar-images-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => {
    makeWritable(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Restores owner write/search bits below `dir`, so tests can edit or delete a sealed image. */
export function makeWritable(dir: string): void {
  if (!fs.existsSync(dir)) return;
  fs.chmodSync(dir, 0o755);
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) makeWritable(p);
    else if (d.isFile()) fs.chmodSync(p, fs.statSync(p).mode | 0o200);
  }
}

export type TreeSpec = Record<string, string | Buffer | { link: string } | { dir: true; mode?: number } | { content: string | Buffer; mode: number }>;

/** Creates files (parents implied), directories and symlinks under `root`. */
export function writeTree(root: string, spec: TreeSpec): void {
  for (const [rel, value] of Object.entries(spec)) {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    if (typeof value === 'string' || Buffer.isBuffer(value)) {
      fs.writeFileSync(abs, value);
    } else if ('link' in value) {
      fs.symlinkSync(value.link, abs);
    } else if ('dir' in value) {
      fs.mkdirSync(abs, { recursive: true });
      if (value.mode !== undefined) fs.chmodSync(abs, value.mode);
    } else {
      fs.writeFileSync(abs, value.content);
      fs.chmodSync(abs, value.mode);
    }
  }
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Asserts that `promise` rejects with a UserError carrying `code` (and a message matching `message`). */
export async function rejectsWithCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<Error> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(isUserError(caught), `expected UserError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code; message was: ${caught.message}`);
  if (message) assert.match(caught.message, message);
  return caught;
}

export function throwsWithCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => isUserError(err) && err.code === code);
}

const HEADER = '{"format":"hangar-snapshot","version":1}\n';
const END = '{"end":true}\n';

function line(record: unknown): string {
  return `${JSON.stringify(record)}\n`;
}

/** A gzip snapshot body from raw parts (strings and buffers, concatenated as is). */
export function snapshotBody(parts: Array<string | Buffer>): Buffer {
  return gzipSync(Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
}

export function streamOf(body: Buffer): Readable {
  return Readable.from([body]);
}

const dir = (p: string, mode = 0o755) => line({ path: p, type: 'dir', mode, size: 0 });
const file = (p: string, content: string) => line({ path: p, type: 'file', mode: 0o644, size: Buffer.byteLength(content) }) + content;
const link = (p: string, target: string) => line({ path: p, type: 'symlink', mode: 0o777, size: 0, target });

/** A valid snapshot body, so tests can cut or tweak a known-good stream. */
export function validBody(): Buffer {
  return snapshotBody([HEADER, dir('app'), file('app/a.txt', 'hello'), link('app/l', 'a.txt'), END]);
}

export interface CorruptCase {
  name: string;
  body: () => Buffer;
  /** What the error message must mention, so each case fails for its own reason. */
  message: RegExp;
}

/** Streams that must each be refused with `image_corrupt`. */
export const CORRUPT_CASES: CorruptCase[] = [
  { name: 'garbage bytes', body: () => Buffer.from('this is not gzip at all'), message: /gzip/ },
  { name: 'truncated gzip', body: () => validBody().subarray(0, 30), message: /gzip|truncated/ },
  { name: 'not a snapshot', body: () => snapshotBody(['{"format":"tar"}\n', END]), message: /header/ },
  { name: 'future version', body: () => snapshotBody(['{"format":"hangar-snapshot","version":2}\n', END]), message: /version/ },
  { name: 'non-JSON record', body: () => snapshotBody([HEADER, 'hello\n', END]), message: /JSON/ },
  { name: 'dotdot path', body: () => snapshotBody([HEADER, file('../evil', 'x'), END]), message: /\.\./ },
  { name: 'nested dotdot path', body: () => snapshotBody([HEADER, dir('a'), file('a/../../evil', 'x'), END]), message: /\.\./ },
  { name: 'absolute path', body: () => snapshotBody([HEADER, file('/etc/evil', 'x'), END]), message: /absolute/ },
  { name: 'unnormalised path', body: () => snapshotBody([HEADER, dir('a'), file('a//b', 'x'), END]), message: /normalised/ },
  { name: 'duplicate path', body: () => snapshotBody([HEADER, file('a', 'x'), file('a', 'y'), END]), message: /twice/ },
  { name: 'missing parent', body: () => snapshotBody([HEADER, file('a/b', 'x'), END]), message: /parent/ },
  { name: 'file under a symlink', body: () => snapshotBody([HEADER, dir('d'), link('l', 'd'), file('l/x', 'x'), END]), message: /parent/ },
  { name: 'size larger than content', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'file', mode: 0o644, size: 100 }), 'short']), message: /truncated/ },
  { name: 'size smaller than content', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'file', mode: 0o644, size: 2 }), 'longer than two', END]), message: /JSON/ },
  { name: 'missing end marker', body: () => snapshotBody([HEADER, dir('app'), file('app/a', 'x')]), message: /end marker/ },
  { name: 'data after end marker', body: () => snapshotBody([HEADER, END, 'more']), message: /after its end marker/ },
  { name: 'unterminated last line', body: () => snapshotBody([HEADER, '{"end":true}']), message: /end marker/ },
  { name: 'symlink escaping', body: () => snapshotBody([HEADER, link('l', '../outside'), END]), message: /outside/ },
  { name: 'absolute symlink', body: () => snapshotBody([HEADER, link('l', '/etc/passwd'), END]), message: /absolute/ },
  { name: 'symlink escaping via another symlink', body: () => snapshotBody([HEADER, dir('sub'), link('sub/up', '..'), link('x', 'sub/up/..'), END]), message: /"x".*outside/ },
  { name: 'symlink escaping through a symlink listed after it', body: () => snapshotBody([HEADER, link('a', 'z/up/..'), dir('z'), link('z/up', '..'), END]), message: /"a".*outside/ },
  { name: 'unknown field', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'dir', mode: 0o755, size: 0, uid: 0 }), END]), message: /unknown field/ },
  { name: 'bad mode', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'dir', mode: 0o4755, size: 0 }), END]), message: /mode/ },
  { name: 'bad type', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'fifo', mode: 0o644, size: 0 }), END]), message: /type/ },
  { name: 'directory with a size', body: () => snapshotBody([HEADER, line({ path: 'a', type: 'dir', mode: 0o755, size: 3 }), END]), message: /size 0/ },
  { name: 'endless line', body: () => snapshotBody([HEADER, 'x'.repeat(200_000)]), message: /longer than/ },
];
