import { LATENCY_BUCKETS } from './metrics-histogram.js';

import { STATUS_CLASSES, type StatusClass } from '../core/window-stats.js';

export { STATUS_CLASSES, type StatusClass };
export const CLASS_COUNT = STATUS_CLASSES.length;

/** Index into STATUS_CLASSES of the classes that count as errors for canary analysis. */
export const ERROR_CLASS_INDEXES: readonly number[] = [STATUS_CLASSES.indexOf('5xx'), STATUS_CLASSES.indexOf('failed')];

/** Running sums `SecondRing.mergeInto` adds to; one per `window()` call. */
export interface MergeTarget {
  classes: Float64Array;
  latency: Float64Array;
  latencyTotal: number;
}

export function newMergeTarget(): MergeTarget {
  return { classes: new Float64Array(CLASS_COUNT), latency: new Float64Array(LATENCY_BUCKETS), latencyTotal: 0 };
}

/**
 * One machine's recent traffic: a ring of one-second slots, slot = second mod size. A slot is cleared
 * and reused in place when a newer second maps onto it, so memory is bounded by the retention, never
 * by uptime. Latency histograms are allocated the first time their slot sees a response and kept
 * after that, so a machine that is mostly idle costs little (a full ring at 10 min retention is ~660 KB).
 */
export class SecondRing {
  /** Which epoch second each slot currently holds; -Infinity = never used. */
  private readonly seconds: Float64Array;
  private readonly classes: Uint32Array;
  private readonly latency: (Uint32Array | undefined)[];
  private readonly latencyTotals: Uint32Array;

  constructor(readonly size: number) {
    this.seconds = new Float64Array(size).fill(-Infinity);
    this.classes = new Uint32Array(size * CLASS_COUNT);
    this.latency = new Array<Uint32Array | undefined>(size).fill(undefined);
    this.latencyTotals = new Uint32Array(size);
  }

  /**
   * Counts one request in `second`. `latencyBucket` < 0 means "no latency" (nothing came back, so
   * there is no response time to speak of). Returns false when the sample is older than what the slot
   * already holds, i.e. it fell out of retention before it was recorded.
   */
  add(second: number, classIndex: number, latencyBucket: number): boolean {
    const slot = this.slotFor(second);
    if (slot < 0) return false;
    this.classes[slot * CLASS_COUNT + classIndex]!++;
    if (latencyBucket >= 0) {
      const hist = (this.latency[slot] ??= new Uint32Array(LATENCY_BUCKETS));
      hist[latencyBucket]!++;
      this.latencyTotals[slot]!++;
    }
    return true;
  }

  /** Adds every slot whose second lies in [fromSecond, toSecond] to `into`. */
  mergeInto(into: MergeTarget, fromSecond: number, toSecond: number): void {
    for (let slot = 0; slot < this.size; slot++) {
      const s = this.seconds[slot]!;
      if (s < fromSecond || s > toSecond) continue;
      const base = slot * CLASS_COUNT;
      for (let c = 0; c < CLASS_COUNT; c++) into.classes[c]! += this.classes[base + c]!;
      const hist = this.latency[slot];
      if (hist === undefined || this.latencyTotals[slot] === 0) continue;
      for (let b = 0; b < LATENCY_BUCKETS; b++) into.latency[b]! += hist[b]!;
      into.latencyTotal += this.latencyTotals[slot]!;
    }
  }

  /** Slots holding a latency histogram; bounded by `size` however long the machine runs. */
  allocatedHistograms(): number {
    let n = 0;
    for (const h of this.latency) if (h !== undefined) n++;
    return n;
  }

  /** The slot for `second`, cleared first if it still holds an older second; -1 if it holds a newer one. */
  private slotFor(second: number): number {
    const slot = ((second % this.size) + this.size) % this.size;
    const held = this.seconds[slot]!;
    if (held === second) return slot;
    if (held > second) return -1;
    this.seconds[slot] = second;
    this.classes.fill(0, slot * CLASS_COUNT, (slot + 1) * CLASS_COUNT);
    this.latency[slot]?.fill(0);
    this.latencyTotals[slot] = 0;
    return slot;
  }
}
