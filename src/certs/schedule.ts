/** When the certificate store works on a certificate: pure functions of times, so tests pass a clock. */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Renew this long before a certificate expires (Let's Encrypt's own advice for 90-day certificates). */
export const DEFAULT_RENEW_BEFORE_MS = 30 * DAY;
/** How often a node looks for certificates to order or renew. */
export const DEFAULT_CHECK_INTERVAL_MS = HOUR;
/** Waits after failed orders in a row: the first retry after a minute, then longer; the last repeats. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [MINUTE, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 6 * HOUR];

/**
 * When to renew a certificate valid from `notBefore` to `notAfter`: `renewBeforeMs` before it expires,
 * but not before half its lifetime has passed. Without that floor a renew-before longer than the
 * lifetime (short-lived certificates) would order a new certificate at every check.
 */
export function renewsAt(notBefore: number, notAfter: number, renewBeforeMs: number): number {
  return Math.max(notAfter - renewBeforeMs, notBefore + Math.floor((notAfter - notBefore) / 2));
}

/** When to try again after the `failures`-th failure in a row (1 = the first) at `now`. */
export function retryAt(failures: number, now: number, delays: readonly number[]): number {
  const list = delays.length > 0 ? delays : DEFAULT_RETRY_DELAYS_MS;
  return now + list[Math.min(Math.max(failures, 1), list.length) - 1]!;
}
