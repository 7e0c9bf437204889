import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { LogLine } from '../api/contract.js';

export interface LogSource {
  machineId: string;
  app: string;
  region: string;
  stdout: string;
  stderr: string;
}

interface Tracked extends LogSource {
  offsets: { stdout: number; stderr: number };
  partial: { stdout: string; stderr: string };
}

export interface LogCollectorOptions {
  /** Where stamped NDJSON logs and read offsets are kept. */
  dir: string;
  pollIntervalMs?: number;
  /** Per-machine NDJSON size at which it is rotated (one older file is kept). */
  rotateBytes?: number;
}

const MAX_LINE = 64 * 1024;

/**
 * Machines write raw stdout/stderr straight to files (so they keep logging while the daemon is down).
 * The collector tails those files, stamps each line with the time it was read, stores it as NDJSON per
 * machine and pushes it to followers. Read offsets are saved so a restarted daemon neither loses nor
 * repeats lines.
 */
export class LogCollector {
  private readonly tracked = new Map<string, Tracked>();
  private readonly ee = new EventEmitter();
  private timer?: NodeJS.Timeout;
  private readonly offsetsFile: string;
  /** Every machine whose output was collected, with its app (release-command machines included). */
  private readonly known = new Map<string, string>();
  private dirty = false;

  constructor(private readonly opts: LogCollectorOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.offsetsFile = join(opts.dir, 'offsets.json');
    this.ee.setMaxListeners(0);
    try {
      for (const [id, app] of Object.entries(JSON.parse(readFileSync(join(opts.dir, 'machines.json'), 'utf8')) as Record<string, string>)) this.known.set(id, app);
    } catch {
      // first start
    }
  }

  start(): void {
    this.timer = setInterval(() => this.pollAll(), this.opts.pollIntervalMs ?? 200);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.pollAll();
    this.saveOffsets();
  }

  track(src: LogSource): void {
    const prev = this.tracked.get(src.machineId);
    if (prev) {
      prev.region = src.region;
      return;
    }
    if (this.known.get(src.machineId) !== src.app) {
      this.known.set(src.machineId, src.app);
      writeFileSync(join(this.opts.dir, 'machines.json'), JSON.stringify(Object.fromEntries(this.known)));
    }
    const saved = this.loadOffsets()[src.machineId];
    this.tracked.set(src.machineId, { ...src, offsets: saved ?? { stdout: 0, stderr: 0 }, partial: { stdout: '', stderr: '' } });
  }

  /** Reads what is left of a machine's output, then forgets it (the machine was destroyed). */
  untrack(machineId: string): void {
    const t = this.tracked.get(machineId);
    if (!t) return;
    this.poll(t);
    this.tracked.delete(machineId);
    this.dirty = true;
  }

  /** Reads new output of one machine now (e.g. right after its instance exited). */
  flush(machineId: string): void {
    const t = this.tracked.get(machineId);
    if (t) this.poll(t);
  }

  onLine(fn: (l: LogLine) => void): () => void {
    this.ee.on('line', fn);
    return () => this.ee.off('line', fn);
  }

  /** Machines of `app` whose output was ever collected (including temporary ones, e.g. release commands). */
  machinesOf(app: string): string[] {
    return [...this.known].filter(([, a]) => a === app).map(([id]) => id);
  }

  /** The last `limit` stored lines of the given machines, oldest first. */
  history(machineIds: string[], limit: number): LogLine[] {
    const all: LogLine[] = [];
    for (const id of machineIds) {
      this.flush(id);
      for (const f of [this.ndjsonFile(id) + '.1', this.ndjsonFile(id)]) {
        if (!existsSync(f)) continue;
        for (const line of readFileSync(f, 'utf8').split('\n')) {
          if (line) all.push(JSON.parse(line) as LogLine);
        }
      }
    }
    all.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
    return limit > 0 ? all.slice(-limit) : [];
  }

  private ndjsonFile(machineId: string): string {
    return join(this.opts.dir, `${machineId}.ndjson`);
  }

  private pollAll(): void {
    for (const t of this.tracked.values()) this.poll(t);
    if (this.dirty) this.saveOffsets();
  }

  private poll(t: Tracked): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const chunk = readFrom(t[stream], t.offsets[stream]);
      if (!chunk) continue;
      if (chunk.reset) t.offsets[stream] = 0;
      t.offsets[stream] += chunk.bytes;
      this.dirty = true;
      const text = t.partial[stream] + chunk.text;
      const lines = text.split('\n');
      t.partial[stream] = lines.pop() ?? '';
      if (t.partial[stream].length > MAX_LINE) {
        lines.push(t.partial[stream]);
        t.partial[stream] = '';
      }
      this.emit(t, stream, lines);
    }
  }

  private emit(t: Tracked, stream: 'stdout' | 'stderr', lines: string[]): void {
    if (lines.length === 0) return;
    const timestamp = new Date().toISOString();
    const out: LogLine[] = lines.map((message) => ({
      timestamp,
      machine_id: t.machineId,
      region: t.region,
      app: t.app,
      stream,
      level: 'info',
      message: message.replace(/\r$/, ''),
    }));
    const file = this.ndjsonFile(t.machineId);
    appendFileSync(file, out.map((l) => JSON.stringify(l)).join('\n') + '\n');
    if (statSync(file).size > (this.opts.rotateBytes ?? 5 * 1024 * 1024)) renameSync(file, file + '.1');
    for (const l of out) this.ee.emit('line', l);
  }

  private loadOffsets(): Record<string, { stdout: number; stderr: number }> {
    try {
      return JSON.parse(readFileSync(this.offsetsFile, 'utf8'));
    } catch {
      return {};
    }
  }

  private saveOffsets(): void {
    const data: Record<string, { stdout: number; stderr: number }> = {};
    for (const t of this.tracked.values()) data[t.machineId] = t.offsets;
    writeFileSync(this.offsetsFile + '.tmp', JSON.stringify(data));
    renameSync(this.offsetsFile + '.tmp', this.offsetsFile);
    this.dirty = false;
  }
}

/** New bytes of `file` past `offset` (up to 1 MiB per call); `reset` when the file was truncated. */
function readFrom(file: string, offset: number): { text: string; bytes: number; reset: boolean } | undefined {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return undefined;
  }
  const reset = size < offset;
  const from = reset ? 0 : offset;
  if (size === from) return undefined;
  const len = Math.min(size - from, 1024 * 1024);
  const buf = Buffer.alloc(len);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, len, from);
  } finally {
    closeSync(fd);
  }
  // Don't split a UTF-8 character across reads: stop at the last newline when there is one.
  const lastNl = buf.lastIndexOf(10);
  const used = lastNl >= 0 && len === size - from ? len : lastNl >= 0 ? lastNl + 1 : len;
  return { text: buf.subarray(0, used).toString('utf8'), bytes: used, reset };
}
