export interface RepeatLimiterOptions<T> {
  windowMs: number;
  /** Writes a line: `repeats` 0 for the first one, the count of swallowed repeats for a summary. */
  write: (item: T, repeats: number) => void;
  /** Runs `fn` after `ms` and returns its cancel (a timer that does not hold the process open by default). */
  schedule?: (fn: () => void, ms: number) => () => void;
}

interface Window<T> {
  item: T;
  repeats: number;
  cancel: () => void;
}

function unrefTimer(fn: () => void, ms: number): () => void {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * Keeps a burst of identical lines from flooding the log (a load test against an app with no healthy
 * machine fails thousands of requests a second). The first line of a key is let through; repeats within
 * `windowMs` are counted, and when the window ends one summary line carries the count (`(N more)`)
 * and opens the next window. So a key never yields more than one line per window, and nothing is lost
 * silently.
 */
export class RepeatLimiter<T> {
  private readonly windows = new Map<string, Window<T>>();

  constructor(private readonly opts: RepeatLimiterOptions<T>) {}

  /** Writes `item` now, or counts it towards the summary of the key's open window. */
  offer(key: string, item: T): void {
    const w = this.windows.get(key);
    if (w) {
      w.repeats++;
      w.item = item;
      return;
    }
    this.opts.write(item, 0);
    this.open(key, item);
  }

  /** Writes every pending summary now and forgets all windows (the daemon is stopping). */
  flush(): void {
    for (const [key, w] of [...this.windows]) {
      w.cancel();
      this.windows.delete(key);
      if (w.repeats > 0) this.opts.write(w.item, w.repeats);
    }
  }

  private open(key: string, item: T): void {
    const cancel = (this.opts.schedule ?? unrefTimer)(() => this.close(key), this.opts.windowMs);
    this.windows.set(key, { item, repeats: 0, cancel });
  }

  /** A quiet window ends the key; a busy one writes its summary and opens the next window. */
  private close(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    if (w.repeats === 0) return;
    this.opts.write(w.item, w.repeats);
    this.open(key, w.item);
  }
}
