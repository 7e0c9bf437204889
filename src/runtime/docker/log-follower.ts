import { closeSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { isEngineStatus, type EngineClient } from './engine.js';
import { FrameDemuxer } from './frames.js';

/**
 * Copies one container's stdout and stderr into the machine's log files while it runs.
 *
 * Resuming after a daemon restart: logs are followed with `timestamps=1`, and the engine's timestamp
 * of the last line written is persisted next to the instance (`stateFile`). A new follower asks for
 * `since=<that time>` and skips every line stamped at or before it, so nothing already in the file is
 * written twice and the engine does not replay the whole history. (Re-reading from the start and
 * skipping by byte count would break as soon as the engine rotates its json-file logs.) The one gap:
 * a line the engine stamped with the very same nanosecond as the last one written is skipped too.
 * The state is saved after each socket chunk, so a daemon killed mid-chunk may repeat that chunk.
 */
export interface LogFollowerOptions {
  engine: EngineClient;
  /** Container id or name. */
  container: string;
  files: { stdout: string; stderr: string };
  /** Where the last written line's timestamp is kept. */
  stateFile: string;
  /** Delay before re-following after the engine connection broke. */
  retryMs?: number;
  /** True for a follower running in the background, which must not hold the daemon open. */
  background: boolean;
}

/** RFC3339Nano with fixed width, as the engine prints it: lexical order is time order. */
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

export class LogFollower {
  /** Settles when the container's log stream ended (it stopped) or the follower was stopped. */
  readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private last: string | undefined;

  constructor(private readonly opts: LogFollowerOptions) {
    this.last = readTimestamp(opts.stateFile);
    this.done = this.run();
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(): Promise<void> {
    const fds = { stdout: openSync(this.opts.files.stdout, 'a'), stderr: openSync(this.opts.files.stderr, 'a') };
    try {
      while (!this.abort.signal.aborted) {
        try {
          await this.followOnce(fds);
          return;
        } catch (err) {
          if (this.abort.signal.aborted || isEngineStatus(err, 404)) return;
          await delay(this.opts.retryMs ?? 1000, undefined, { signal: this.abort.signal, ref: false }).catch(() => {});
        }
      }
    } finally {
      closeSync(fds.stdout);
      closeSync(fds.stderr);
    }
  }

  private async followOnce(fds: { stdout: number; stderr: number }): Promise<void> {
    const res = await this.opts.engine.stream('GET', `/containers/${encodeURIComponent(this.opts.container)}/logs`, {
      query: { follow: 1, stdout: 1, stderr: 1, timestamps: 1, since: this.last ? sinceParam(this.last) : undefined },
      signal: this.abort.signal,
      unref: this.opts.background,
    });
    const demux = new FrameDemuxer();
    for await (const chunk of res) {
      const before = this.last;
      for (const frame of demux.push(chunk as Buffer)) {
        const space = frame.data.indexOf(0x20);
        const ts = space > 0 ? frame.data.subarray(0, space).toString('latin1') : '';
        if (!TIMESTAMP.test(ts)) {
          writeSync(fds[frame.stream], frame.data);
          continue;
        }
        if (this.last !== undefined && ts <= this.last) continue;
        writeSync(fds[frame.stream], frame.data.subarray(space + 1));
        this.last = ts;
      }
      if (this.last !== before && this.last !== undefined) saveTimestamp(this.opts.stateFile, this.last);
    }
  }
}

/** The engine's `since` takes `seconds.nanoseconds` since the epoch; Date would drop the nanoseconds. */
export function sinceParam(ts: string): string {
  const seconds = Math.floor(Date.parse(`${ts.slice(0, 19)}Z`) / 1000);
  return `${seconds}.${ts.slice(20, 29)}`;
}

function readTimestamp(file: string): string | undefined {
  try {
    const ts = readFileSync(file, 'utf8').trim();
    return TIMESTAMP.test(ts) ? ts : undefined;
  } catch {
    return undefined;
  }
}

function saveTimestamp(file: string, ts: string): void {
  writeFileSync(`${file}.tmp`, ts);
  renameSync(`${file}.tmp`, file);
}
