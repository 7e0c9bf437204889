/**
 * What the proxy's metrics say about a set of machines over a window: the figures a canary is judged
 * by and the metrics API reports. Lives in core so deploys read it without depending on the proxy.
 */

/** Response classes, in the order their counts are stored. `failed` = no response at all. */
export const STATUS_CLASSES = ['2xx', '3xx', '4xx', '5xx', 'failed'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

export interface WindowStats {
  requests: number;
  /** 5xx responses plus requests that got no response at all. */
  errors: number;
  /** errors / requests, 0..1; 0 when there were no requests. */
  errorRate: number;
  /** Latency percentiles over requests that got a response; null when none did. */
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  byClass: Record<StatusClass, number>;
}
