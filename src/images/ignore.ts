/**
 * `.hangarignore` / `.dockerignore` handling with Docker's semantics, so an existing `.dockerignore`
 * means the same thing here as in `docker build`:
 *
 * - one pattern per line; lines starting with `#` are comments; surrounding blanks are trimmed;
 * - every pattern is relative to the root (a leading `/` changes nothing): `*.log` matches only at the
 *   top level, `**\/*.log` at any depth;
 * - `*` matches any run of characters except `/`, `?` one such character, `[a-z]` / `[!a-z]` / `[^a-z]`
 *   a character class, `\` escapes the next character, and a `**` segment any number of directories;
 * - a pattern that matches a directory also matches everything below it;
 * - `!pattern` re-includes what an earlier pattern excluded; the last matching line wins.
 *
 * One deliberate extension: a trailing `/` restricts the pattern to directories (Docker drops the
 * slash and would also match a file of that name; with the slash here a user plainly means a folder).
 * `.git` (at any depth: nested checkouts have one too) is always excluded and cannot be re-included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { invalidIgnorePattern } from './image-errors.js';

/** Decides which paths of a directory stay out of its snapshot. */
export interface IgnoreMatcher {
  /** Whether `relPath` (posix, relative to the snapshot root) is excluded. */
  ignores(relPath: string, isDir: boolean): boolean;
  /**
   * Whether some `!` pattern could re-include a path below the excluded directory `dirPath`; when not,
   * a walker can skip the whole directory (e.g. `node_modules`) without reading it.
   */
  mayReincludeUnder(dirPath: string): boolean;
}

/** The ignore files looked for, in order of preference. */
export const IGNORE_FILES = ['.hangarignore', '.dockerignore'] as const;

const ALWAYS_EXCLUDED = '.git';

interface Rule {
  negate: boolean;
  dirOnly: boolean;
  /** One regex (or `**`) per pattern segment, for the prefix test in `mayReincludeUnder`. */
  segments: Array<RegExp | '**'>;
  whole: RegExp;
}

/**
 * Reads `.hangarignore`, or else `.dockerignore`, from `dir`. Only one file is used, so a project can
 * keep a Docker-specific `.dockerignore` and give hangar its own rules. No file → only `.git` is excluded.
 */
export function loadIgnore(dir: string): IgnoreMatcher {
  for (const name of IGNORE_FILES) {
    let text: string;
    try {
      text = fs.readFileSync(path.join(dir, name), 'utf8');
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    return parseIgnore(text, name);
  }
  return parseIgnore('', '(none)');
}

/** Builds a matcher from the text of an ignore file; `source` names the file in error messages. */
export function parseIgnore(text: string, source = '.dockerignore'): IgnoreMatcher {
  const rules: Rule[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, index) => {
    const rule = parseLine(raw, source, index + 1);
    if (rule) rules.push(rule);
  });
  return new RuleMatcher(rules);
}

class RuleMatcher implements IgnoreMatcher {
  constructor(private readonly rules: readonly Rule[]) {}

  ignores(relPath: string, isDir: boolean): boolean {
    const clean = path.posix.normalize(relPath).replace(/^\.?\/+|\/+$/g, '');
    if (clean === '' || clean === '.') return false;
    const parts = clean.split('/');
    if (parts.includes(ALWAYS_EXCLUDED)) return true;
    // The path itself and each of its ancestors: excluding a directory excludes its contents.
    const candidates = parts.map((_, i) => ({ p: parts.slice(0, i + 1).join('/'), dir: i < parts.length - 1 || isDir }));
    let ignored = false;
    for (const rule of this.rules) {
      const hit = candidates.some((c) => (c.dir || !rule.dirOnly) && rule.whole.test(c.p));
      if (hit) ignored = !rule.negate;
    }
    return ignored;
  }

  mayReincludeUnder(dirPath: string): boolean {
    const parts = dirPath.split('/').filter((s) => s !== '' && s !== '.');
    if (parts.includes(ALWAYS_EXCLUDED)) return false;
    return this.rules.some((rule) => rule.negate && couldReachBelow(rule, parts));
  }
}

/** False only when a segment of the pattern rules out every path under `dirParts`. */
function couldReachBelow(rule: Rule, dirParts: string[]): boolean {
  const n = Math.min(rule.segments.length, dirParts.length);
  for (let i = 0; i < n; i++) {
    const seg = rule.segments[i]!;
    if (seg === '**') return true;
    if (!seg.test(dirParts[i]!)) return false;
  }
  return true;
}

function parseLine(raw: string, source: string, line: number): Rule | null {
  // As in Docker: a comment is a `#` in the first column, checked before trimming.
  if (raw.startsWith('#')) return null;
  let pattern = raw.trim();
  if (pattern === '') return null;
  const negate = pattern.startsWith('!');
  if (negate) pattern = pattern.slice(1).trim();
  const dirOnly = pattern.length > 1 && pattern.endsWith('/');
  pattern = path.posix.normalize(pattern).replace(/^\/+/, '').replace(/\/+$/, '');
  // `/`, `.` or anything climbing above the root can never match a path inside the snapshot.
  if (pattern === '' || pattern === '.' || pattern === '..' || pattern.startsWith('../')) return null;
  const fail = (why: string): never => {
    throw invalidIgnorePattern(source, line, raw.trim(), why);
  };
  const segments = pattern.split('/').map((s) => (s === '**' ? ('**' as const) : new RegExp(`^${segmentSource(s, fail)}$`)));
  return { negate, dirOnly, segments, whole: new RegExp(`^${wholeSource(pattern.split('/'), fail)}$`) };
}

/** Joins segment regexes; a `**` segment stands for zero or more whole directories. */
function wholeSource(parts: string[], fail: (why: string) => never): string {
  let out = '';
  parts.forEach((seg, i) => {
    const first = i === 0;
    const last = i === parts.length - 1;
    if (seg === '**') {
      if (first && last) out += '.*';
      else if (first) out += '(?:.*/)?';
      else if (last) out += '/.*';
      else out += '/(?:.*/)?';
      return;
    }
    const afterGlobstar = i > 0 && parts[i - 1] === '**';
    if (!first && !afterGlobstar) out += '/';
    out += segmentSource(seg, fail);
  });
  return out;
}

/** Regex source for one path segment (no `/` inside). */
function segmentSource(seg: string, fail: (why: string) => never): string {
  let out = '';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') {
      out += '[^/]*';
      while (seg[i + 1] === '*') i++;
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const parsed = classSource(seg, i + 1, fail);
      out += parsed.source;
      i = parsed.end;
    } else if (c === '\\') {
      if (i + 1 >= seg.length) fail('trailing backslash');
      out += escapeRegex(seg[++i]!);
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

/** Parses a `[...]` class starting just after `[`; returns its regex and the index of the `]`. */
function classSource(seg: string, start: number, fail: (why: string) => never): { source: string; end: number } {
  let i = start;
  let negate = false;
  if (seg[i] === '!' || seg[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < seg.length; i++) {
    let c = seg[i]!;
    let escaped = false;
    if (c === ']' && !first) {
      if (body === '') fail('empty character class');
      const source = `[${negate ? '^/' : ''}${body}]`;
      try {
        new RegExp(source);
      } catch {
        fail('bad character range');
      }
      return { source, end: i };
    }
    first = false;
    if (c === '\\') {
      if (i + 1 >= seg.length) break;
      c = seg[++i]!;
      escaped = true;
    }
    // An unescaped `-` means a range only between two characters; elsewhere it is literal.
    const isRange = c === '-' && !escaped && body !== '' && seg[i + 1] !== ']';
    body += isRange ? '-' : escapeClassChar(c);
  }
  return fail('unterminated character class');
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

function escapeClassChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? `\\${c}` : c;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
