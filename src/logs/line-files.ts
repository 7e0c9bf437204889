import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLine } from '../core/log-line.js';

/**
 * Where stored log lines live: one NDJSON file per machine (its output and the platform lines about
 * it) and one per app for app-wide platform lines (deploy phases, proxy hold timeouts). Each file is
 * rotated at `rotateBytes`, keeping one older file.
 */
export class LineFiles {
  constructor(
    private readonly dir: string,
    private readonly rotateBytes: number,
  ) {
    mkdirSync(join(dir, 'apps'), { recursive: true });
  }

  machineFile(machineId: string): string {
    return join(this.dir, `${machineId}.ndjson`);
  }

  /** App names never contain a dot or a slash, machine ids live one level up: no clash either way. */
  appFile(app: string): string {
    return join(this.dir, 'apps', `${app}.ndjson`);
  }

  append(file: string, lines: readonly LogLine[]): void {
    if (lines.length === 0) return;
    appendFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    if (statSync(file).size > this.rotateBytes) renameSync(file, file + '.1');
  }

  /** Every stored line of the file, older rotation first. */
  read(file: string): LogLine[] {
    const out: LogLine[] = [];
    for (const f of [file + '.1', file]) {
      if (!existsSync(f)) continue;
      for (const text of readFileSync(f, 'utf8').split('\n')) {
        const l = parseLine(text);
        if (l) out.push(l);
      }
    }
    return out;
  }
}

/**
 * A stored line; lines written before sources existed are machine output. A line torn by a crash
 * mid-write is skipped rather than failing the whole history.
 */
function parseLine(text: string): LogLine | undefined {
  if (!text) return undefined;
  try {
    const { timestamp, source, ...rest } = JSON.parse(text) as Omit<LogLine, 'source'> & { source?: LogLine['source'] };
    return { timestamp, source: source ?? 'app', ...rest };
  } catch {
    return undefined;
  }
}
