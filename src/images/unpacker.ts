/**
 * The receiving side of the snapshot stream (format in `stream.ts`): a push parser fed decompressed
 * chunks, writing entries to disk as they arrive. It trusts nothing it reads. Files are created with
 * O_EXCL under directories this parser itself created, so a hostile stream can never write through a
 * symlink or over an existing path; symlink targets are checked once the whole tree is known, because a
 * link may legitimately point at an entry that arrives later.
 */
import { createHash, type Hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { imageCorrupt } from './image-errors.js';
import { createManifest, digestOf, manifestStats, type Manifest, type ManifestEntry } from './manifest.js';
import { comparePaths, parentOf, relPathProblem, symlinkStaysInside } from './paths.js';
import type { EntryType } from './snapshot.js';

export interface UnpackResult {
  manifest: Manifest;
  /** `digestOf(manifest)`. */
  digest: string;
  sizeBytes: number;
  fileCount: number;
}

// Real paths are at most a few KiB; the cap stops a newline-free stream from growing a line forever.
const MAX_LINE_BYTES = 64 * 1024;
const EMPTY = Buffer.alloc(0);
const ENTRY_KEYS = new Set(['path', 'type', 'mode', 'size', 'target']);
const ENTRY_TYPES: ReadonlySet<string> = new Set<EntryType>(['file', 'dir', 'symlink']);

/** Header values of the stream format this parser reads (see `stream.ts`). */
export const STREAM_FORMAT = 'hangar-snapshot';
export const STREAM_VERSION = 1;

type Phase = 'header' | 'entries' | 'done';

interface OpenFile {
  entry: ManifestEntry;
  handle: fs.promises.FileHandle;
  hash: Hash;
  remaining: number;
}

export class Unpacker {
  private phase: Phase = 'header';
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lineNo = 0;
  private readonly entries = new Map<string, ManifestEntry>();
  private file: OpenFile | undefined;
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly dest: string) {}

  /** Consumes the next chunk of decompressed stream. */
  async feed(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.file) rest = await this.writeContent(this.file, rest);
      else if (this.phase === 'done') throw imageCorrupt('snapshot has data after its end marker');
      else rest = await this.takeLine(rest);
    }
  }

  /** Call once the stream has ended: checks completeness, symlinks, and applies directory modes. */
  async finish(): Promise<UnpackResult> {
    if (this.file) {
      const { entry, remaining } = this.file;
      throw imageCorrupt(`snapshot is truncated: ${JSON.stringify(entry.path)} is missing ${remaining} of ${entry.size} bytes`);
    }
    if (this.pendingBytes > 0 || this.phase !== 'done') {
      throw imageCorrupt('snapshot is truncated: the end marker is missing');
    }
    this.checkSymlinks();
    await this.applyDirModes();
    const manifest = createManifest([...this.entries.values()]);
    return { manifest, digest: digestOf(manifest), ...manifestStats(manifest) };
  }

  /** Releases the open file, if any, after a failure. */
  async abort(): Promise<void> {
    const open = this.file;
    this.file = undefined;
    await open?.handle.close().catch(() => {});
  }

  private async takeLine(chunk: Buffer): Promise<Buffer> {
    const nl = chunk.indexOf(0x0a);
    const part = nl < 0 ? chunk : chunk.subarray(0, nl);
    this.pendingBytes += part.length;
    if (this.pendingBytes > MAX_LINE_BYTES) throw imageCorrupt(`snapshot record ${this.lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
    this.pending.push(part);
    if (nl < 0) return EMPTY;
    const line = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.lineNo++;
    await this.handleRecord(this.parseLine(line));
    return chunk.subarray(nl + 1);
  }

  private parseLine(line: Buffer): unknown {
    try {
      return JSON.parse(this.decoder.decode(line));
    } catch {
      throw imageCorrupt(`snapshot record ${this.lineNo} is not valid JSON`);
    }
  }

  private async handleRecord(record: unknown): Promise<void> {
    if (this.phase === 'header') {
      checkHeader(record);
      this.phase = 'entries';
    } else if (isEndMarker(record)) {
      this.phase = 'done';
    } else {
      await this.addEntry(parseEntry(record, this.lineNo));
    }
  }

  private async addEntry(entry: ManifestEntry): Promise<void> {
    const name = JSON.stringify(entry.path);
    if (this.entries.has(entry.path)) throw imageCorrupt(`snapshot lists ${name} twice`);
    const parent = parentOf(entry.path);
    if (parent !== '' && this.entries.get(parent)?.type !== 'dir') {
      throw imageCorrupt(`snapshot entry ${name} comes before its parent directory ${JSON.stringify(parent)}, or the parent is not a directory`);
    }
    this.entries.set(entry.path, entry);
    const abs = path.join(this.dest, entry.path);
    try {
      await this.create(entry, abs);
    } catch (err) {
      // Only reachable on a case-insensitive filesystem, where `A` and `a` are one path.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw imageCorrupt(`snapshot entry ${name} collides with another path`);
      throw err;
    }
  }

  private async create(entry: ManifestEntry, abs: string): Promise<void> {
    switch (entry.type) {
      case 'dir':
        // Owner-writable until `finish`, whatever the final mode.
        await fs.promises.mkdir(abs, { mode: 0o700 });
        return;
      case 'symlink':
        await fs.promises.symlink(entry.target!, abs);
        return;
      case 'file': {
        const handle = await fs.promises.open(abs, 'wx', 0o600);
        const open: OpenFile = { entry, handle, hash: createHash('sha256'), remaining: entry.size };
        if (entry.size === 0) await this.closeFile(open);
        else this.file = open;
        return;
      }
    }
  }

  private async writeContent(open: OpenFile, chunk: Buffer): Promise<Buffer> {
    const n = Math.min(open.remaining, chunk.length);
    const data = chunk.subarray(0, n);
    open.hash.update(data);
    for (let off = 0; off < data.length; ) {
      off += (await open.handle.write(data, off, data.length - off)).bytesWritten;
    }
    open.remaining -= n;
    if (open.remaining === 0) {
      this.file = undefined;
      await this.closeFile(open);
    }
    return chunk.subarray(n);
  }

  private async closeFile(open: OpenFile): Promise<void> {
    open.entry.sha256 = open.hash.digest('hex');
    try {
      await open.handle.chmod(open.entry.mode);
    } finally {
      await open.handle.close();
    }
  }

  private checkSymlinks(): void {
    const links = new Map<string, string>();
    for (const e of this.entries.values()) if (e.type === 'symlink') links.set(e.path, e.target!);
    for (const [linkPath, target] of links) {
      if (!symlinkStaysInside(linkPath, target, (p) => links.get(p))) {
        throw imageCorrupt(`snapshot symlink ${JSON.stringify(linkPath)} -> ${JSON.stringify(target)} points outside the image`);
      }
    }
  }

  /** Deepest first, so a directory made unsearchable does not block setting its children's modes. */
  private async applyDirModes(): Promise<void> {
    const dirs = [...this.entries.values()].filter((e) => e.type === 'dir').sort((a, b) => comparePaths(b.path, a.path));
    for (const dir of dirs) await fs.promises.chmod(path.join(this.dest, dir.path), dir.mode);
  }
}

function checkHeader(record: unknown): void {
  const header = record as { format?: unknown; version?: unknown } | null;
  if (header === null || typeof header !== 'object' || header.format !== STREAM_FORMAT) {
    throw imageCorrupt('not a hangar snapshot stream (bad header)');
  }
  if (header.version !== STREAM_VERSION) {
    throw imageCorrupt(`unsupported snapshot version ${JSON.stringify(header.version)}`, 'upgrade hangar on the daemon side');
  }
}

function isEndMarker(record: unknown): boolean {
  if (record === null || typeof record !== 'object') return false;
  return (record as { end?: unknown }).end === true && Object.keys(record).length === 1;
}

/** Checks one entry record field by field; the error names the record and what is wrong with it. */
function parseEntry(record: unknown, lineNo: number): ManifestEntry {
  const fail = (why: string): never => {
    throw imageCorrupt(`snapshot record ${lineNo}: ${why}`);
  };
  if (record === null || typeof record !== 'object' || Array.isArray(record)) return fail('not a JSON object');
  const r = record as Record<string, unknown>;
  const extra = Object.keys(r).find((k) => !ENTRY_KEYS.has(k));
  if (extra !== undefined) fail(`unknown field ${JSON.stringify(extra)}`);
  if (typeof r.path !== 'string') return fail('"path" is not a string');
  const where = JSON.stringify(r.path);
  const problem = relPathProblem(r.path);
  if (problem) fail(`${where}: ${problem}`);
  if (typeof r.type !== 'string' || !ENTRY_TYPES.has(r.type)) fail(`${where}: unknown type ${JSON.stringify(r.type)}`);
  const type = r.type as EntryType;
  if (!Number.isInteger(r.mode) || (r.mode as number) < 0 || (r.mode as number) > 0o777) fail(`${where}: bad mode`);
  if (!Number.isSafeInteger(r.size) || (r.size as number) < 0) fail(`${where}: bad size`);
  if (type !== 'file' && r.size !== 0) fail(`${where}: a ${type} must have size 0`);
  if (type === 'symlink') checkTarget(r.target, where, fail);
  else if (r.target !== undefined) fail(`${where}: only symlinks have a target`);
  const entry: ManifestEntry = { path: r.path, type, mode: r.mode as number, size: r.size as number };
  if (type === 'symlink') entry.target = r.target as string;
  return entry;
}

function checkTarget(target: unknown, where: string, fail: (why: string) => never): void {
  if (typeof target !== 'string' || target === '') fail(`${where}: symlink without a target`);
  const t = target as string;
  if (t.includes('\0')) fail(`${where}: symlink target contains a NUL byte`);
  if (t.startsWith('/')) fail(`${where}: symlink target ${JSON.stringify(t)} is absolute`);
}
