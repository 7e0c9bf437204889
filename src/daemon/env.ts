/** Tuning knobs read from the environment, mostly so tests run crash loops and clusters in milliseconds. */
import { parseDuration } from '../core/duration.js';
import type { HostTiming } from '../cluster/host-registry.js';
import { DEFAULT_TIMING, type LifecycleTiming } from '../machines/lifecycle.js';

/** Heartbeat and down-detection intervals from the environment (tests shorten them). */
export function envHostTiming(): Partial<HostTiming> {
  const out: Partial<HostTiming> = {};
  const beat = parseDuration(process.env.HANGAR_HEARTBEAT_INTERVAL);
  const down = parseDuration(process.env.HANGAR_HOST_DOWN_AFTER);
  if (beat !== undefined) out.heartbeatMs = beat;
  if (down !== undefined) out.downAfterMs = down;
  return out;
}

/** Tuning knobs for restart backoff, mostly so tests of crash loops run in milliseconds. */
export function envTiming(): Partial<LifecycleTiming> {
  const out: Partial<LifecycleTiming> = {};
  const base = parseDuration(process.env.HANGAR_RESTART_BACKOFF);
  const stable = parseDuration(process.env.HANGAR_RESTART_STABLE_AFTER);
  if (base !== undefined) out.backoffBaseMs = base;
  if (base !== undefined) out.backoffMaxMs = Math.max(base, Math.min(DEFAULT_TIMING.backoffMaxMs, base * 32));
  if (stable !== undefined) out.stableAfterMs = stable;
  return out;
}

/** Certificate timing (`HANGAR_CERT_CHECK_INTERVAL`, `HANGAR_CERT_RENEW_BEFORE`, `HANGAR_CERT_RETRY_DELAYS`), mostly for tests. */
export function envCertTiming(): { checkIntervalMs?: number; renewBeforeMs?: number; retryDelaysMs?: number[] } {
  const delays = process.env.HANGAR_CERT_RETRY_DELAYS;
  return {
    checkIntervalMs: parseDuration(process.env.HANGAR_CERT_CHECK_INTERVAL),
    renewBeforeMs: parseDuration(process.env.HANGAR_CERT_RENEW_BEFORE),
    retryDelaysMs: delays ? delays.split(',').map((x) => parseDuration(x.trim()) ?? 60_000) : undefined,
  };
}

/** Webhook retry delays (`HANGAR_NOTIFY_RETRY`, comma-separated durations), mostly for tests. */
export function envDelays(): number[] | undefined {
  const v = process.env.HANGAR_NOTIFY_RETRY;
  if (!v) return undefined;
  return v.split(',').map((x) => parseDuration(x.trim()) ?? 1000);
}
