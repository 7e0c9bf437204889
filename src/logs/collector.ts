import { mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { LogLine } from '../core/log-line.js';
import { LineFiles } from './line-files.js';

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
  /** NDJSON file size at which it is rotated (one older file is kept). */
  rotateBytes?: number;
}

/** A platform line to store; stamped when stored unless it says when it happened. */
export type PlatformLine = Omit<LogLine, 'timestamp'> & { timestamp?: string };

/** Which stored lines `history` returns. */
export interface HistoryQuery {
  machineIds: string[];
  /** Include the app's app-wide platform lines. */
  app?: string;
  /** Applied before `limit`, so the limit counts matching lines. */
  matches?: (l: LogLine) => boolean;
}

const MAX_LINE = 64 * 1024;

/**
 * Machines write raw stdout/stderr straight to files (so they keep logging while the daemon is down).
 * The collector tails those files, stamps each line with the time it was read, stores it as NDJSON per
 * machine and pushes it to followers. Read offsets are saved so a restarted daemon neither loses nor
 * repeats lines. Platform lines (`append`) are stored the same way: a line about a machine in that
 * machine's file, right after the output it wrote before the line happened; an app-wide line in the
 * app's file.
 */
export class LogCollector {
  private readonly tracked = new Map<string, Tracked>();
  private readonly ee = new EventEmitter();
  private timer?: NodeJS.Timeout;
  private readonly offsetsFile: string;
  /** Every machine whose output was collected, with its app (release-command machines included). */
  private readonly known = new Map<string, string>();
  private dirty = false;
  private readonly files: LineFiles;

  constructor(private readonly opts: LogCollectorOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.files = new LineFiles(opts.dir, opts.rotateBytes ?? 5 * 1024 * 1024);
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
    this.remember(src.machineId, src.app);
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

  /** Machine output only (`app` lines), as it is collected. */
  onLine(fn: (l: LogLine) => void): () => void {
    this.ee.on('output', fn);
    return () => this.ee.off('output', fn);
  }

  /** Every line as it is stored: machine output and platform lines. */
  onStored(fn: (l: LogLine) => void): () => void {
    this.ee.on('stored', fn);
    return () => this.ee.off('stored', fn);
  }

  /**
   * Stores a platform line. The machine's output so far is read (and stamped) first, so what it printed
   * before (say) it exited sorts before the exit line.
   */
  append(platform: PlatformLine): void {
    if (platform.machine_id) {
      this.flush(platform.machine_id);
      this.remember(platform.machine_id, platform.app);
    }
    const { timestamp, ...rest } = platform;
    const line: LogLine = { timestamp: timestamp ?? new Date().toISOString(), ...rest };
    this.files.append(line.machine_id ? this.files.machineFile(line.machine_id) : this.files.appFile(line.app), [line]);
    this.ee.emit('stored', line);
  }

  /** Machines of `app` whose output was ever collected (including temporary ones, e.g. release commands). */
  machinesOf(app: string): string[] {
    return [...this.known].filter(([, a]) => a === app).map(([id]) => id);
  }

  /** The last `limit` stored lines of the given machines (and app), oldest first. */
  history(q: HistoryQuery, limit: number): LogLine[] {
    const all: LogLine[] = [];
    for (const id of q.machineIds) {
      this.flush(id);
      all.push(...this.files.read(this.files.machineFile(id)));
    }
    if (q.app) all.push(...this.files.read(this.files.appFile(q.app)));
    const wanted = q.matches ? all.filter(q.matches) : all;
    // Stable: lines with the same timestamp keep the order they were stored in.
    wanted.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
    return limit > 0 ? wanted.slice(-limit) : [];
  }

  private remember(machineId: string, app: string): void {
    if (this.known.get(machineId) === app) return;
    this.known.set(machineId, app);
    writeFileSync(join(this.opts.dir, 'machines.json'), JSON.stringify(Object.fromEntries(this.known)));
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
      source: 'app',
      machine_id: t.machineId,
      region: t.region,
      app: t.app,
      stream,
      level: 'info',
      message: message.replace(/\r$/, ''),
    }));
    this.files.append(this.files.machineFile(t.machineId), out);
    for (const l of out) {
      this.ee.emit('output', l);
      this.ee.emit('stored', l);
    }
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
