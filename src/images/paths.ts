/**
 * Pure helpers for the posix, root-relative paths that snapshots, streams and manifests are made of.
 * Packing and unpacking share these so both sides agree on what a valid path and a safe symlink are.
 */
import path from 'node:path';

/**
 * Why `relPath` is not a clean relative path, or null when it is. Clean means: non-empty, no leading
 * or trailing `/`, no empty, `.` or `..` segments, no NUL — i.e. already normalised, so one file has
 * exactly one spelling and a duplicate cannot hide behind `a/./b`.
 */
export function relPathProblem(relPath: string): string | null {
  if (relPath === '') return 'empty path';
  if (relPath.includes('\0')) return 'path contains a NUL byte';
  if (relPath.startsWith('/')) return 'absolute path';
  for (const segment of relPath.split('/')) {
    if (segment === '..') return 'path escapes the root with ".."';
    if (segment === '' || segment === '.') return 'path is not normalised';
  }
  return null;
}

/** Parent of a relative path, '' for top-level entries. */
export function parentOf(relPath: string): string {
  const i = relPath.lastIndexOf('/');
  return i < 0 ? '' : relPath.slice(0, i);
}

/**
 * Order for entries. Plain code-unit order puts a directory before everything inside it (a prefix sorts
 * first), which is what the stream needs, and it is locale-independent, which the digest needs.
 */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when `child` (absolute) is `parent` itself or below it. */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel));
}

/** Looks up the target of a symlink in the tree being checked, undefined if `relPath` is no symlink. */
export type SymlinkLookup = (relPath: string) => string | undefined;

// Same bound as Linux's MAXSYMLINKS: past it the kernel answers ELOOP, so nothing can escape either.
const MAX_SYMLINK_HOPS = 40;

/**
 * Whether the symlink at `linkPath` with `target` stays inside the root once every symlink on the way
 * is followed, using the tree's own symlinks (`lookup`) rather than the host filesystem. A purely
 * lexical check is not enough: with `d -> sub/x`, the target `d/../..` looks inside but is not.
 */
export function symlinkStaysInside(linkPath: string, target: string, lookup: SymlinkLookup): boolean {
  let hops = 0;
  const resolve = (base: string[], link: string): string[] | null => {
    if (link.startsWith('/')) return null;
    const stack = [...base];
    for (const part of link.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (stack.length === 0) return null;
        stack.pop();
        continue;
      }
      stack.push(part);
      const inner = lookup(stack.join('/'));
      if (inner === undefined || ++hops > MAX_SYMLINK_HOPS) continue;
      stack.pop();
      const resolved = resolve(stack, inner);
      if (resolved === null) return null;
      stack.splice(0, stack.length, ...resolved);
    }
    return stack;
  };
  const parent = parentOf(linkPath);
  return resolve(parent === '' ? [] : parent.split('/'), target) !== null;
}
