import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';

/** What the app's own source says about how it serves HTTP. */
export interface SourceHints {
  /** `/health` or `/healthz` when some source file names that route (as a quoted string). */
  healthPath?: string;
  /** The file it was found in, relative to the app directory. */
  healthFile?: string;
  /** Whether some source file reads the PORT environment variable. */
  readsPort: boolean;
  /** The port the app falls back to when PORT is unset (`process.env.PORT || 3000`). */
  defaultPort?: number;
  defaultPortFile?: string;
}

const SOURCE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts', '.jsx', '.tsx', '.py']);
/** Dependencies, caches and build output: scanning them would find other people's routes. */
const SKIPPED_DIRS = new Set(['node_modules', '.git', '.venv', 'venv', '.pydeps', '__pycache__', '.next', 'coverage']);
const MAX_DEPTH = 4;
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 512 * 1024;

const HEALTH_ROUTE = /["'`](\/healthz?)["'`]/;
const READS_PORT = /process\.env\.PORT\b|process\.env\[["']PORT["']\]|environ(?:\.get)?\s*[([]\s*["']PORT["']|getenv\(\s*["']PORT["']/;
const PORT_FALLBACK = [
  /process\.env\.PORT\s*(?:\|\||\?\?)\s*["']?(\d{2,5})\b/,
  /(?:environ\.get|getenv)\(\s*["']PORT["']\s*,\s*["']?(\d{2,5})\b/,
];

/**
 * Reads the app's source files (JavaScript, TypeScript, Python; a few directory levels deep, without
 * dependencies) for a health route and for how it picks its port. Unreadable files are passed over:
 * these are hints for a generated config, not a verdict on the app.
 */
export function scanSource(dir: string): SourceHints {
  const hints: SourceHints = { readsPort: false };
  for (const file of sourceFiles(dir)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const rel = relative(dir, file);
    const route = HEALTH_ROUTE.exec(text)?.[1];
    // "/health" is preferred when both appear: it is what hangar's examples and Fly's docs use.
    if (route && (!hints.healthPath || (hints.healthPath === '/healthz' && route === '/health'))) {
      hints.healthPath = route;
      hints.healthFile = rel;
    }
    if (READS_PORT.test(text)) hints.readsPort = true;
    const fallback = PORT_FALLBACK.map((re) => re.exec(text)?.[1]).find((p) => p !== undefined);
    if (fallback && hints.defaultPort === undefined && validPort(Number(fallback))) {
      hints.defaultPort = Number(fallback);
      hints.defaultPortFile = rel;
    }
  }
  return hints;
}

export function validPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Source files under `dir`, breadth first so the app's top-level files come before nested ones. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  let level = [dir];
  for (let depth = 0; depth <= MAX_DEPTH && level.length > 0 && out.length < MAX_FILES; depth++) {
    const next: string[] = [];
    for (const d of level) {
      let entries;
      try {
        entries = readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
      } catch {
        continue;
      }
      for (const e of entries) {
        const p = join(d, e.name);
        if (e.isDirectory() && !SKIPPED_DIRS.has(e.name)) next.push(p);
        else if (e.isFile() && SOURCE_EXTENSIONS.has(extname(e.name)) && small(p)) out.push(p);
      }
    }
    level = next;
  }
  return out.slice(0, MAX_FILES);
}

function small(file: string): boolean {
  try {
    return statSync(file).size <= MAX_FILE_BYTES;
  } catch {
    return false;
  }
}
