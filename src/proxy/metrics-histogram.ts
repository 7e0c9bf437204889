/**
 * The fixed latency histogram every rolling-window slot shares: log-spaced upper bounds from 0.1 ms to
 * 60 s, each 5% above the previous one. Log spacing keeps the *relative* error constant, which is what
 * a canary comparison cares about (10 ms vs 10.5 ms matters as much as 1 s vs 1.05 s), and a fixed
 * layout lets slots be merged by adding arrays index by index.
 */

const MIN_MS = 0.1;
const MAX_MS = 60_000;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

function buildBounds(): Float64Array {
  const n = Math.ceil(Math.log(MAX_MS / MIN_MS) / LOG_GROWTH) + 1;
  const bounds = new Float64Array(n);
  for (let i = 0; i < n; i++) bounds[i] = MIN_MS * GROWTH ** i;
  return bounds;
}

/** Upper bound (inclusive, ms) of each finite bucket, ascending. Bucket 0 holds everything ≤ 0.1 ms. */
export const LATENCY_BOUNDS_MS: Readonly<Float64Array> = buildBounds();

const LAST_FINITE = LATENCY_BOUNDS_MS.length - 1;

/** Buckets per histogram: the finite ones plus one overflow bucket for anything above ~60 s. */
export const LATENCY_BUCKETS = LATENCY_BOUNDS_MS.length + 1;

/** Index of the bucket a duration falls into. O(1): a logarithm, then a nudge for rounding error. */
export function latencyBucket(ms: number): number {
  // `!(ms > MIN_MS)` also catches NaN, so a broken duration lands somewhere harmless rather than throwing.
  if (!(ms > MIN_MS)) return 0;
  if (ms > LATENCY_BOUNDS_MS[LAST_FINITE]!) return LAST_FINITE + 1;
  let i = Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH);
  // Floating-point logs can land one bucket off right at a boundary; the bounds table is the truth.
  if (i > LAST_FINITE) i = LAST_FINITE;
  if (ms > LATENCY_BOUNDS_MS[i]!) i++;
  else if (i > 0 && ms <= LATENCY_BOUNDS_MS[i - 1]!) i--;
  return i;
}

/**
 * The q-quantile (0 < q ≤ 1) of a merged histogram, or null when it is empty.
 *
 * Interpolates linearly by rank inside the bucket holding the target rank (as Prometheus'
 * `histogram_quantile` does), so the estimate is never off by more than the bucket's width: 5%.
 * A quantile that lands in the overflow bucket reports its lower bound (~60 s), since there is no
 * upper edge to interpolate towards.
 */
export function quantileMs(counts: ArrayLike<number>, total: number, q: number): number | null {
  if (total <= 0) return null;
  const rank = q * total;
  let before = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    if (before + c >= rank) return interpolate(i, (rank - before) / c);
    before += c;
  }
  // Only reachable if `total` exceeds the counts' sum; report the highest populated edge.
  return LATENCY_BOUNDS_MS[LAST_FINITE]!;
}

function interpolate(bucket: number, fraction: number): number {
  if (bucket > LAST_FINITE) return LATENCY_BOUNDS_MS[LAST_FINITE]!;
  const lower = bucket === 0 ? 0 : LATENCY_BOUNDS_MS[bucket - 1]!;
  const upper = LATENCY_BOUNDS_MS[bucket]!;
  return lower + (upper - lower) * fraction;
}
