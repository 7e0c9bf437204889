/**
 * The snapshot stream: how a directory travels from the CLI to the (possibly remote) daemon.
 *
 * Format, version 1 — one gzip stream whose decompressed bytes are:
 *
 *     {"format":"hangar-snapshot","version":1}\n        header line
 *     {"path":"app","type":"dir","mode":493,"size":0}\n  one JSON line per entry ...
 *     {"path":"app/x.js","type":"file","mode":420,"size":12}\n
 *     <exactly 12 raw bytes>                           ... followed, for files only, by its content
 *     {"path":"app/y","type":"symlink","mode":511,"size":0,"target":"x.js"}\n
 *     {"end":true}\n                                    end marker; nothing may follow it
 *
 * Entries are `SnapshotEntry` objects. A directory comes before anything inside it (pack emits entries
 * sorted by path, which guarantees it). JSON lines keep the format debuggable with `zcat | head`,
 * while raw content avoids base64's cost; sizes up front let the reader stream each file to disk
 * without buffering it. The explicit end marker distinguishes a complete upload from a cut-off one
 * that happens to end on a record boundary. Nothing about the sender is trusted: see `unpackStream`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { finished, pipeline, type Readable } from 'node:stream';
import { createGunzip, createGzip, constants as zlibConstants } from 'node:zlib';
import { isUserError } from '../core/errors.js';
import type { IgnoreMatcher } from './ignore.js';
import { imageCorrupt, sourceChanged } from './image-errors.js';
import { scanDirectory, type SnapshotEntry } from './snapshot.js';
import { STREAM_FORMAT, STREAM_VERSION, Unpacker, type UnpackResult } from './unpacker.js';

export { STREAM_FORMAT, STREAM_VERSION, type UnpackResult } from './unpacker.js';
export const HEADER_LINE = `${JSON.stringify({ format: STREAM_FORMAT, version: STREAM_VERSION })}\n`;
export const END_LINE = `${JSON.stringify({ end: true })}\n`;

/** Content type to use when a snapshot stream is sent over HTTP. */
export const SNAPSHOT_CONTENT_TYPE = 'application/vnd.hangar.snapshot.v1+gzip';

const READ_CHUNK = 64 * 1024;

export interface PackOptions {
  /** Which paths to leave out; defaults to the directory's `.hangarignore` / `.dockerignore`. */
  matcher?: IgnoreMatcher;
  /** gzip level 0–9; a local import can use 1 (or 0) since nothing crosses a network. */
  compressionLevel?: number;
}

export interface PackResult {
  /** The gzip snapshot stream. It errors (UserError `image_source_changed`) if a file shrinks or vanishes mid-stream. */
  stream: Readable;
  /** Everything the scan skipped, complete before any byte is streamed. */
  warnings: string[];
  /** What the stream will contain, in order. */
  entries: SnapshotEntry[];
}

/**
 * Snapshots `dir` into a stream. The directory is scanned first (synchronously, so warnings are known
 * up front); file contents are then read lazily as the consumer pulls, never held in memory.
 * @throws UserError `image_source_missing`
 */
export function packDirectory(dir: string, opts: PackOptions = {}): PackResult {
  const { entries, warnings } = scanDirectory(dir, opts.matcher);
  const root = path.resolve(dir);
  const gzip = createGzip({ level: opts.compressionLevel ?? zlibConstants.Z_DEFAULT_COMPRESSION });
  // pipeline destroys the gzip stream with the source's error, so a consumer sees why a pack failed.
  const stream = pipeline(records(root, entries), gzip, () => {});
  return { stream, warnings, entries };
}

/**
 * Streams stored content as a snapshot again, entries as they were recorded (the store's own files are
 * read-only, so their modes on disk are not the recorded ones). Another node imports the stream and
 * gets the same digest.
 */
export function packEntries(dir: string, entries: SnapshotEntry[]): Readable {
  const gzip = createGzip({ level: 1 });
  return pipeline(records(path.resolve(dir), entries), gzip, () => {});
}

async function* records(root: string, entries: SnapshotEntry[]): AsyncGenerator<Buffer> {
  yield Buffer.from(HEADER_LINE);
  for (const entry of entries) {
    yield Buffer.from(`${JSON.stringify(entry)}\n`);
    if (entry.type === 'file' && entry.size > 0) yield* fileContent(root, entry);
  }
  yield Buffer.from(END_LINE);
}

/** Exactly `entry.size` bytes: a file that grew since the scan is cut, one that shrank is an error. */
async function* fileContent(root: string, entry: SnapshotEntry): AsyncGenerator<Buffer> {
  const handle = await openNoFollow(path.join(root, entry.path), entry.path);
  try {
    let remaining = entry.size;
    while (remaining > 0) {
      // A fresh buffer per read: yielded chunks may still sit in the gzip queue.
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, remaining));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw sourceChanged(entry.path, `expected ${entry.size} bytes, the file is now shorter`);
      remaining -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

/** Refuses to follow a symlink that replaced a scanned file in the meantime. */
async function openNoFollow(file: string, relPath: string): Promise<fs.promises.FileHandle> {
  try {
    return await fs.promises.open(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') throw sourceChanged(relPath, 'the file is gone or became a symlink');
    throw err;
  }
}

/**
 * Unpacks a snapshot stream into `destDir` (created if missing; must be empty), validating everything:
 * a known header; clean relative paths without `..`; no duplicates; each entry's parent a directory
 * received earlier; symlink targets that stay inside `destDir` even through other symlinks; file sizes
 * that match; the end marker, with nothing after it. Files get their modes as they complete,
 * directories at the end (a read-only directory could not be filled). Each file is hashed on the way.
 *
 * On failure `destDir` may hold a partial tree: the caller owns the directory and removes it. The
 * input is un-piped and drained rather than destroyed, so an HTTP server can still send its reply.
 * @throws UserError `image_corrupt` for any problem with the stream's content.
 */
export async function unpackStream(input: Readable, destDir: string): Promise<UnpackResult> {
  const dest = path.resolve(destDir);
  await prepareDestination(dest);
  const unpacker = new Unpacker(dest);
  const gunzip = createGunzip();
  // `pipe` forwards neither errors nor an early close; without this a dropped upload would hang here.
  const stopWatching = finished(input, (err) => {
    if (err) gunzip.destroy(err);
  });
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip) await unpacker.feed(chunk as Buffer);
    return await unpacker.finish();
  } catch (err) {
    await unpacker.abort();
    throw classify(err);
  } finally {
    stopWatching();
    input.unpipe(gunzip);
    if (!input.destroyed && !input.readableEnded) input.resume();
  }
}

async function prepareDestination(dest: string): Promise<void> {
  await fs.promises.mkdir(dest, { recursive: true });
  const existing = await fs.promises.readdir(dest);
  if (existing.length > 0) throw new Error(`unpack destination ${dest} is not empty`);
}

/** Turns what gzip or the stream machinery throws about bad input into `image_corrupt`. */
function classify(err: unknown): unknown {
  if (isUserError(err)) return err;
  const { code, message } = err as NodeJS.ErrnoException;
  if (typeof code === 'string' && code.startsWith('Z_')) return imageCorrupt(`snapshot is not valid gzip data: ${message}`);
  if (code === 'ERR_STREAM_PREMATURE_CLOSE') return imageCorrupt('snapshot upload was cut off before its end marker');
  return err;
}
