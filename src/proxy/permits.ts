import type { Backend } from './routing-table.js';

/**
 * Places on machines under concurrency limits, counted over every proxy worker by the daemon: a
 * worker takes one before it sends a request to such a machine and gives it back after, so a hard
 * limit holds however the requests are spread over the workers.
 */
export interface Permits {
  /** One place on `b`: its release, or undefined when `b` is at its hard limit. */
  acquire(b: Backend): Promise<(() => void) | undefined>;
}

/** A machine whose requests are counted across workers (it has a soft or a hard limit). */
export function limited(b: Backend): boolean {
  return b.hardLimit !== undefined || b.softLimit !== undefined;
}

/** What a request holds of the machine it goes to: the machine, and its place when it took one. */
export interface Held {
  b: Backend;
  /** Gives the place back (a no-op without one); called once the exchange is over. */
  done: () => void;
}

export const NO_PERMIT = (): void => undefined;
