/**
 * An image's manifest: its sorted entries, each file with its sha256. The image digest is the sha256 of
 * the manifest's canonical JSON, so it depends on paths, types, modes, sizes, link targets and file
 * bytes — and on nothing else (no mtimes, owners or walk order), which makes identical app directories
 * produce identical digests on any machine.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { IgnoreMatcher } from './ignore.js';
import { imageCorrupt, sourceChanged } from './image-errors.js';
import { comparePaths, relPathProblem } from './paths.js';
import { scanDirectory, type SnapshotEntry } from './snapshot.js';

export interface ManifestEntry extends SnapshotEntry {
  /** Lowercase hex sha256 of the content; present exactly for files. */
  sha256?: string;
}

export interface Manifest {
  version: 1;
  /** Sorted by path, directories before their contents. */
  entries: ManifestEntry[];
}

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** A manifest from entries in any order (the input array is not modified). */
export function createManifest(entries: readonly ManifestEntry[]): Manifest {
  const sorted = entries.map(normaliseEntry).sort((a, b) => comparePaths(a.path, b.path));
  return { version: 1, entries: sorted };
}

/** `sha256:<hex>` of the manifest's canonical JSON. */
export function digestOf(manifest: Manifest): string {
  return `sha256:${createHash('sha256').update(canonicalJson(manifest)).digest('hex')}`;
}

/** Total file bytes and number of regular files. */
export function manifestStats(manifest: Manifest): { sizeBytes: number; fileCount: number } {
  let sizeBytes = 0;
  let fileCount = 0;
  for (const e of manifest.entries) {
    if (e.type !== 'file') continue;
    sizeBytes += e.size;
    fileCount++;
  }
  return { sizeBytes, fileCount };
}

/**
 * JSON with object keys sorted and no whitespace, skipping undefined values as JSON.stringify does.
 * Fixing the key order keeps the digest independent of how an entry object happened to be built.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const fields = Object.keys(value)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${fields.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Computes the manifest and digest of a local directory without storing anything, e.g. so a client can
 * ask whether the daemon already has this exact image before uploading it.
 * @throws UserError `image_source_missing`
 */
export async function computeManifest(
  dir: string,
  matcher?: IgnoreMatcher,
): Promise<{ manifest: Manifest; digest: string; warnings: string[] }> {
  const { entries, warnings } = scanDirectory(dir, matcher);
  const root = path.resolve(dir);
  const withHashes: ManifestEntry[] = [];
  for (const entry of entries) {
    if (entry.type !== 'file') withHashes.push(entry);
    else withHashes.push({ ...entry, sha256: await hashScannedFile(root, entry) });
  }
  const manifest = createManifest(withHashes);
  return { manifest, digest: digestOf(manifest), warnings };
}

/** Hashes exactly the bytes the scan saw, so size and sha256 in the manifest describe the same content. */
async function hashScannedFile(root: string, entry: SnapshotEntry): Promise<string> {
  const hash = createHash('sha256');
  let seen = 0;
  if (entry.size > 0) {
    for await (const chunk of fs.createReadStream(path.join(root, entry.path), { end: entry.size - 1 })) {
      hash.update(chunk as Buffer);
      seen += (chunk as Buffer).length;
    }
  }
  if (seen !== entry.size) throw sourceChanged(entry.path, `expected ${entry.size} bytes, read ${seen}`);
  return hash.digest('hex');
}

/** Lowercase hex sha256 of a file's content. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Validates a manifest read back from disk.
 * @throws UserError `image_corrupt` naming what is wrong.
 */
export function parseManifest(value: unknown, source: string): Manifest {
  const bad = (why: string): never => {
    throw imageCorrupt(`${source}: ${why}`);
  };
  if (value === null || typeof value !== 'object') return bad('not a JSON object');
  const { version, entries } = value as { version?: unknown; entries?: unknown };
  if (version !== 1) return bad(`unsupported manifest version ${JSON.stringify(version)}`);
  if (!Array.isArray(entries)) return bad('"entries" is not an array');
  for (const entry of entries as unknown[]) {
    const problem = entryProblem(entry);
    if (problem) bad(problem);
  }
  return { version: 1, entries: entries as ManifestEntry[] };
}

function entryProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object') return 'entry is not an object';
  const e = value as Partial<ManifestEntry>;
  if (typeof e.path !== 'string') return 'entry without a path';
  const pathProblem = relPathProblem(e.path);
  if (pathProblem) return `${JSON.stringify(e.path)}: ${pathProblem}`;
  if (e.type !== 'file' && e.type !== 'dir' && e.type !== 'symlink') return `${JSON.stringify(e.path)}: bad type`;
  if (!Number.isSafeInteger(e.size) || e.size! < 0) return `${JSON.stringify(e.path)}: bad size`;
  if (e.type === 'file' && !HEX_SHA256.test(e.sha256 ?? '')) return `${JSON.stringify(e.path)}: bad sha256`;
  if (e.type === 'symlink' && typeof e.target !== 'string') return `${JSON.stringify(e.path)}: symlink without target`;
  return null;
}

/** Keeps only the fields that belong in a manifest, so stray properties cannot change the digest. */
function normaliseEntry(e: ManifestEntry): ManifestEntry {
  const out: ManifestEntry = { path: e.path, type: e.type, mode: e.mode, size: e.size };
  if (e.type === 'symlink') out.target = e.target;
  if (e.type === 'file') out.sha256 = e.sha256;
  return out;
}
