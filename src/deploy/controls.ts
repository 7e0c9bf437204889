import type { Control } from './strategy.js';

/**
 * The user's hand on a running deploy: promote and abort are queued for the strategy; pause stops the
 * strategy's clock until resume (time spent paused does not count toward a step).
 */
export class ControlChannel {
  private paused = false;
  private readonly queue: Array<'promote' | 'abort'> = [];
  private wake: (() => void) | undefined;

  isPaused(): boolean {
    return this.paused;
  }

  send(c: Control): void {
    if (c === 'pause') this.paused = true;
    else if (c === 'resume') this.paused = false;
    else this.queue.push(c);
    this.wake?.();
  }

  /**
   * The next control, or 'timeout' after `ms` of unpaused time. Rejects when `signal` aborts (the daemon
   * is stopping), so a deploy waiting for a promotion or paused by the user never holds up a shutdown.
   */
  async wait(ms?: number, signal?: AbortSignal): Promise<Control | 'timeout'> {
    let remaining = ms ?? Infinity;
    for (;;) {
      signal?.throwIfAborted();
      const next = this.queue.shift();
      if (next) return next;
      if (!this.paused && remaining <= 0) return 'timeout';
      const started = Date.now();
      const wasPaused = this.paused;
      await new Promise<void>((resolve) => {
        const timer = wasPaused || remaining === Infinity ? undefined : setTimeout(resolve, remaining);
        const onAbort = () => this.wake?.();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
      this.wake = undefined;
      if (!wasPaused) remaining -= Date.now() - started;
    }
  }
}
