/**
 * Walks an app directory into the sorted entry list an image is made of. The walk never follows a
 * symlink: following one could pull files from anywhere on the building machine into the image. A
 * symlink is kept only when it resolves inside the directory; sockets, fifos and devices cannot be
 * stored at all. Both are skipped with a warning rather than failing the deploy.
 *
 * The walk is synchronous on purpose: `packDirectory` must report every warning before it hands out
 * its stream, and a snapshot is taken once per deploy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadIgnore, type IgnoreMatcher } from './ignore.js';
import { sourceMissing } from './image-errors.js';
import { comparePaths, isWithin, parentOf, symlinkStaysInside } from './paths.js';

export type EntryType = 'file' | 'dir' | 'symlink';

/** One path of a snapshot. */
export interface SnapshotEntry {
  /** Posix path relative to the snapshot root, normalised, never empty. */
  path: string;
  type: EntryType;
  /** Permission bits (`0o777` mask). Always `0o777` for symlinks, whose own mode means nothing. */
  mode: number;
  /** Byte size of a file; 0 for directories and symlinks. */
  size: number;
  /** Symlink target, relative to the link's directory. */
  target?: string;
}

export interface ScanResult {
  /** Sorted by `comparePaths`, so every directory comes before its contents. */
  entries: SnapshotEntry[];
  /** One line per skipped path, naming it and why. */
  warnings: string[];
}

export const SYMLINK_MODE = 0o777;

interface WalkContext {
  root: string;
  /** The root with its own symlinks resolved, so absolute link targets spelled either way are recognised. */
  realRoot: string;
  matcher: IgnoreMatcher;
  entries: SnapshotEntry[];
  warnings: string[];
}

/**
 * Resolves `dir` and checks it is an existing directory.
 * @throws UserError `image_source_missing`
 */
export function resolveSourceDir(dir: string): string {
  const root = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw sourceMissing(dir, 'missing');
    throw err;
  }
  if (!stat.isDirectory()) throw sourceMissing(dir, 'not_dir');
  return root;
}

/**
 * Lists what a snapshot of `dir` contains. `matcher` defaults to the directory's own ignore file.
 * @throws UserError `image_source_missing` when `dir` is missing or not a directory.
 */
export function scanDirectory(dir: string, matcher?: IgnoreMatcher): ScanResult {
  const root = resolveSourceDir(dir);
  const ctx: WalkContext = {
    root,
    realRoot: fs.realpathSync(root),
    matcher: matcher ?? loadIgnore(root),
    entries: [],
    warnings: [],
  };
  walkDir(ctx, '');
  const entries = dropEscapingSymlinks(ctx.entries, ctx.warnings);
  entries.sort((a, b) => comparePaths(a.path, b.path));
  return { entries, warnings: ctx.warnings };
}

function walkDir(ctx: WalkContext, relDir: string): void {
  let dirents: fs.Dirent[];
  try {
    dirents = fs.readdirSync(path.join(ctx.root, relDir), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') throw err;
    ctx.warnings.push(`skipped ${JSON.stringify(relDir)}: directory is not readable`);
    return;
  }
  // Sorted so warnings come out in a stable order.
  dirents.sort((a, b) => comparePaths(a.name, b.name));
  for (const dirent of dirents) {
    visit(ctx, relDir === '' ? dirent.name : `${relDir}/${dirent.name}`);
  }
}

function visit(ctx: WalkContext, rel: string): void {
  const stat = fs.lstatSync(path.join(ctx.root, rel));
  if (stat.isDirectory()) {
    visitDir(ctx, rel, stat);
    return;
  }
  if (ctx.matcher.ignores(rel, false)) return;
  if (stat.isFile()) {
    ctx.entries.push({ path: rel, type: 'file', mode: stat.mode & 0o777, size: stat.size });
  } else if (stat.isSymbolicLink()) {
    visitSymlink(ctx, rel);
  } else {
    ctx.warnings.push(`skipped ${JSON.stringify(rel)}: ${specialKind(stat)} cannot be part of an image`);
  }
}

function visitDir(ctx: WalkContext, rel: string, stat: fs.Stats): void {
  const ignored = ctx.matcher.ignores(rel, true);
  if (ignored && !ctx.matcher.mayReincludeUnder(rel)) return;
  const entry: SnapshotEntry = { path: rel, type: 'dir', mode: stat.mode & 0o777, size: 0 };
  const before = ctx.entries.length;
  walkDir(ctx, rel);
  // An excluded directory still has to exist when something inside it was re-included with `!`.
  if (!ignored || ctx.entries.length > before) ctx.entries.push(entry);
}

function visitSymlink(ctx: WalkContext, rel: string): void {
  const written = fs.readlinkSync(path.join(ctx.root, rel));
  let target = written;
  if (path.isAbsolute(written)) {
    const relTarget = insideRelative(ctx, written);
    if (relTarget === null) {
      ctx.warnings.push(`skipped symlink ${JSON.stringify(rel)} -> ${JSON.stringify(written)}: target is outside the directory`);
      return;
    }
    // An absolute path would point elsewhere once the image is unpacked, so re-express it relatively.
    target = path.posix.relative(parentOf(rel) || '.', relTarget || '.') || '.';
  }
  ctx.entries.push({ path: rel, type: 'symlink', mode: SYMLINK_MODE, size: 0, target });
}

/** Root-relative posix path of an absolute target inside the root, or null when it is outside. */
function insideRelative(ctx: WalkContext, absTarget: string): string | null {
  const resolved = path.resolve(absTarget);
  for (const base of [ctx.root, ctx.realRoot]) {
    if (isWithin(base, resolved)) return path.relative(base, resolved).split(path.sep).join('/');
  }
  return null;
}

/**
 * Removes symlinks that escape the root once other symlinks are followed, repeating until stable so the
 * result passes the very same check `unpackStream` applies.
 */
function dropEscapingSymlinks(entries: SnapshotEntry[], warnings: string[]): SnapshotEntry[] {
  let current = entries;
  for (;;) {
    const links = new Map(current.filter((e) => e.type === 'symlink').map((e) => [e.path, e.target!]));
    const escaping = new Set(
      [...links].filter(([p, t]) => !symlinkStaysInside(p, t, (q) => links.get(q))).map(([p]) => p),
    );
    if (escaping.size === 0) return current;
    for (const p of [...escaping].sort(comparePaths)) {
      warnings.push(`skipped symlink ${JSON.stringify(p)} -> ${JSON.stringify(links.get(p))}: target is outside the directory`);
    }
    current = current.filter((e) => !escaping.has(e.path));
  }
}

function specialKind(stat: fs.Stats): string {
  if (stat.isSocket()) return 'a socket';
  if (stat.isFIFO()) return 'a fifo';
  if (stat.isBlockDevice() || stat.isCharacterDevice()) return 'a device';
  return 'a special file';
}
