import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels up from src/ or dist/src/). */
function readVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'hangar' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

let cached: string | undefined;

/** The package version (read on first use, not at import). */
export function version(): string {
  cached ??= readVersion();
  return cached;
}
