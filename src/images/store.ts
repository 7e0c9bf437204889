/**
 * The daemon's content-addressed image store, on the filesystem only (names and tags live in the
 * database). Layout under `root`:
 *
 *     sha256/<hex>/rootfs/         the unpacked snapshot, read-only; machines run with it as cwd
 *     sha256/<hex>/manifest.json   the Manifest whose digest is sha256:<hex>
 *     tmp/                         imports in progress and removals; safe to wipe when the daemon starts
 *
 * An import is unpacked and sealed under tmp/ and then renamed into place in one step, so an image
 * directory either is complete or does not exist, and a failed upload leaves nothing behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { isUserError } from '../core/errors.js';
import type { IgnoreMatcher } from './ignore.js';
import { imageCorrupt, imageMissing, invalidDigest } from './image-errors.js';
import { DIGEST_PATTERN, digestOf, hashFile, manifestStats, parseManifest, type Manifest, type ManifestEntry } from './manifest.js';
import { packDirectory, packEntries, unpackStream } from './stream.js';

/** An image as stored on disk. */
export interface StoredImage {
  /** `sha256:<64 hex>`. */
  digest: string;
  /** Sum of file sizes. */
  sizeBytes: number;
  /** Number of regular files. */
  fileCount: number;
  /** Absolute path of the image's root directory. */
  rootfs: string;
}

export interface VerifyOptions {
  /** Also rehash every file (reads the whole image); otherwise only types, sizes and link targets. */
  deep?: boolean;
}

const MANIFEST_FILE = 'manifest.json';

export class ImageStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /**
   * Stores the snapshot stream `input` (see `stream.ts`). If the same content is already stored, the
   * new copy is discarded and the existing image returned — unless the existing one fails a cheap
   * `verify`, in which case the fresh upload replaces it, so "re-upload" really repairs an image.
   * @throws UserError `image_corrupt` if the stream is invalid; nothing is left in the store then.
   */
  async importStream(input: Readable): Promise<StoredImage> {
    const staging = await this.makeTemp('import-');
    try {
      const { manifest, digest } = await unpackStream(input, path.join(staging, 'rootfs'));
      await seal(staging, manifest);
      await this.commit(staging, digest);
      return this.describe(digest, manifest);
    } finally {
      await forceRemove(staging);
    }
  }

  /**
   * Stores a local directory (the daemon's own builds), honouring its ignore file unless `matcher` is
   * given. Goes through the same stream code as an upload so both paths validate and digest identically.
   * @throws UserError `image_source_missing`, `image_source_changed`
   */
  async importDirectory(dir: string, matcher?: IgnoreMatcher): Promise<StoredImage & { warnings: string[] }> {
    // No compression: the bytes never leave this machine.
    const packed = packDirectory(dir, { matcher, compressionLevel: 0 });
    const stored = await this.importStream(packed.stream);
    return { ...stored, warnings: packed.warnings };
  }

  /** Whether the image is stored (complete images only: the manifest moves in with the rootfs). */
  async has(digest: string): Promise<boolean> {
    try {
      await fs.promises.access(path.join(this.imageDir(digest), MANIFEST_FILE));
      return true;
    } catch {
      return false;
    }
  }

  /** Where the image's root directory is (whether or not it exists). @throws `invalid_image_digest` */
  rootfsPath(digest: string): string {
    return path.join(this.imageDir(digest), 'rootfs');
  }

  /** The stored image as a snapshot stream (for another node that needs it), or undefined if absent. */
  async exportStream(digest: string): Promise<Readable | undefined> {
    if (!(await this.has(digest))) return undefined;
    const manifest = await this.readManifest(digest);
    return packEntries(this.rootfsPath(digest), manifest.entries.map(({ sha256: _s, ...e }) => e));
  }

  /** @throws UserError `image_missing`, `image_corrupt` (unreadable manifest) */
  async readManifest(digest: string): Promise<Manifest> {
    const file = path.join(this.imageDir(digest), MANIFEST_FILE);
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch (err) {
      if (isNotFound(err)) throw imageMissing(digest);
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw imageCorrupt(`image ${digest} is corrupt: ${MANIFEST_FILE} is not valid JSON`);
    }
    return parseManifest(json, `image ${digest} ${MANIFEST_FILE}`);
  }

  /** @throws UserError `image_missing` */
  async get(digest: string): Promise<StoredImage> {
    return this.describe(digest, await this.readManifest(digest));
  }

  /**
   * Checks the stored image against its manifest and stops at the first difference.
   * @throws UserError `image_missing` if the image (or its rootfs) is gone, `image_corrupt` naming the
   * first bad path otherwise.
   */
  async verify(digest: string, opts: VerifyOptions = {}): Promise<void> {
    const manifest = await this.readManifest(digest);
    const rootfs = this.rootfsPath(digest);
    const stat = await fs.promises.lstat(rootfs).catch(() => null);
    if (!stat?.isDirectory()) throw imageMissing(digest);
    if (digestOf(manifest) !== digest) throw imageCorrupt(`image ${digest} is corrupt: ${MANIFEST_FILE} does not match the digest`);
    for (const entry of manifest.entries) {
      const problem = await entryProblem(rootfs, entry, opts.deep === true);
      if (problem) throw imageCorrupt(`image ${digest} is corrupt: ${JSON.stringify(entry.path)} ${problem}`);
    }
  }

  /** Deletes an image; false if it was not stored. Callers make sure no machine still uses it. */
  async remove(digest: string): Promise<boolean> {
    const dir = this.imageDir(digest);
    const trash = await this.makeTemp('remove-');
    try {
      // Renamed away first so the image vanishes at once instead of lingering half-deleted.
      await fs.promises.rename(dir, path.join(trash, 'image'));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    } finally {
      await forceRemove(trash);
    }
  }

  /** Every stored image with a readable manifest, sorted by digest (`verify` reports the others). */
  async list(): Promise<StoredImage[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(path.join(this.root, 'sha256'));
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const images: StoredImage[] = [];
    for (const name of names.filter((n) => /^[0-9a-f]{64}$/.test(n)).sort()) {
      try {
        images.push(await this.get(`sha256:${name}`));
      } catch (err) {
        if (!isUserError(err)) throw err;
      }
    }
    return images;
  }

  /** Deletes leftovers of imports interrupted by a crash. Call only while no import runs (daemon start). */
  async cleanTemp(): Promise<void> {
    await forceRemove(path.join(this.root, 'tmp'));
  }

  private imageDir(digest: string): string {
    if (!DIGEST_PATTERN.test(digest)) throw invalidDigest(digest);
    return path.join(this.root, 'sha256', digest.slice('sha256:'.length));
  }

  private async makeTemp(prefix: string): Promise<string> {
    const tmp = path.join(this.root, 'tmp');
    await fs.promises.mkdir(tmp, { recursive: true });
    return fs.promises.mkdtemp(path.join(tmp, prefix));
  }

  /** Moves a sealed staging directory into place; keeps an intact existing copy instead (dedupe). */
  private async commit(staging: string, digest: string): Promise<void> {
    const dir = this.imageDir(digest);
    await fs.promises.mkdir(path.dirname(dir), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.promises.rename(staging, dir);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err;
      }
      if (await this.isIntact(digest)) return;
      await this.remove(digest);
    }
    throw new Error(`could not store image ${digest}: another copy keeps appearing`);
  }

  private async isIntact(digest: string): Promise<boolean> {
    try {
      await this.verify(digest);
      return true;
    } catch (err) {
      if (isUserError(err)) return false;
      throw err;
    }
  }

  private describe(digest: string, manifest: Manifest): StoredImage {
    return { digest, ...manifestStats(manifest), rootfs: this.rootfsPath(digest) };
  }
}

/** Writes the manifest and makes the rootfs read-only before the image becomes visible. */
async function seal(staging: string, manifest: Manifest): Promise<void> {
  await fs.promises.writeFile(path.join(staging, MANIFEST_FILE), `${JSON.stringify(manifest)}\n`, { mode: 0o444 });
  await makeReadOnly(path.join(staging, 'rootfs'), manifest);
}

/**
 * Images are immutable, so nobody (a machine's process included) should edit one in place. Best
 * effort: root ignores the bits anyway. Parents first, so each one stays searchable for its children.
 */
async function makeReadOnly(rootfs: string, manifest: Manifest): Promise<void> {
  const chmod = (p: string, mode: number) => fs.promises.chmod(p, mode).catch(() => {});
  await chmod(rootfs, 0o555);
  for (const entry of manifest.entries) {
    // chmod follows symlinks, and a link's own mode means nothing: leave links alone.
    if (entry.type === 'dir') await chmod(path.join(rootfs, entry.path), 0o555);
    else if (entry.type === 'file') await chmod(path.join(rootfs, entry.path), entry.mode & ~0o222);
  }
}

/** Deletes a tree that may contain read-only directories (which `rm` cannot empty for a non-root user). */
async function forceRemove(dir: string): Promise<void> {
  await makeDirsWritable(dir);
  await fs.promises.rm(dir, { recursive: true, force: true });
}

async function makeDirsWritable(dir: string): Promise<void> {
  try {
    await fs.promises.chmod(dir, 0o700);
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  for (const dirent of await fs.promises.readdir(dir, { withFileTypes: true })) {
    if (dirent.isDirectory()) await makeDirsWritable(path.join(dir, dirent.name));
  }
}

async function entryProblem(rootfs: string, entry: ManifestEntry, deep: boolean): Promise<string | null> {
  const abs = path.join(rootfs, entry.path);
  let stat: fs.Stats;
  try {
    stat = await fs.promises.lstat(abs);
  } catch (err) {
    if (isNotFound(err)) return 'is missing';
    throw err;
  }
  const actual = stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : stat.isSymbolicLink() ? 'symlink' : 'special file';
  if (actual !== entry.type) return `should be a ${entry.type} but is a ${actual}`;
  if (entry.type === 'file' && stat.size !== entry.size) return `has ${stat.size} bytes instead of ${entry.size}`;
  if (entry.type === 'symlink') {
    const target = await fs.promises.readlink(abs);
    if (target !== entry.target) return `points to ${JSON.stringify(target)} instead of ${JSON.stringify(entry.target)}`;
  }
  if (deep && entry.type === 'file' && (await hashFile(abs)) !== entry.sha256) return 'has changed content (sha256 mismatch)';
  return null;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
