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

/**
 * The raw sums a WindowStats is computed from, in a form that adds up across proxies (several nodes,
 * several workers) and crosses a process boundary as JSON: counts per status class, in STATUS_CLASSES
 * order, and the latency histogram of the requests that got a response.
 */
export interface WindowCounts {
  classes: number[];
  latency: number[];
  latencyTotal: number;
}

/** Which machines a window is asked about: a set of machine ids, or every machine of an app. */
export type WindowScope = { machines: string[] } | { app: string };

/** Windows of proxy traffic, summed over every proxy that counts requests (async: some may be remote). */
export interface TrafficWindows {
  /** One WindowStats per scope, all over the same last `windowMs`. */
  windows(scopes: WindowScope[], windowMs: number): Promise<WindowStats[]>;
}
