import { z } from 'zod';
import { queryInt } from './contract-parts.js';

/**
 * Request and response shapes of `GET /v1/apps/{app}/metrics/history`: the last hour of the app's
 * request metrics, one point per interval, for the app and for each release. A live chart polls it
 * with `since` set to the last `t` it has, and gets only the newer points.
 */

export const HistoryQuery = z
  .object({
    since: queryInt(0, Number.MAX_SAFE_INTEGER).optional().describe('ms since the epoch: only points with t greater than this (the last t a chart already has)'),
  })
  .strict();

export const HistoryPointView = z.object({
  t: z.number().int().describe('ms since the epoch: the end of the interval the point counts'),
  requests: z.number().int().describe('requests the proxies finished in the interval; per second: requests / interval_ms * 1000'),
  errors_5xx: z.number().int().describe('of those, 5xx responses plus requests that got no response at all; per second: errors_5xx / interval_ms * 1000'),
  p50_ms: z.number().nullable().describe('median latency of the requests that got a response, ms; null when none did'),
  p95_ms: z.number().nullable().describe('95th percentile latency of the requests that got a response, ms; null when none did'),
});
export type HistoryPointView = z.infer<typeof HistoryPointView>;

export const MetricsHistoryView = z.object({
  interval_ms: z.number().int().describe('how long each point counts (HANGAR_METRICS_INTERVAL, default 10 s)'),
  points: z.array(HistoryPointView).describe("the app's points, oldest first; a missing interval (the daemon was down, or a round failed) is no point rather than zeros"),
  releases: z
    .array(
      z.object({
        version: z.number().int().nullable().describe('the release version; null for machines without one'),
        points: z.array(HistoryPointView).describe('the points of the intervals in which the release had machines'),
      }),
    )
    .describe('per release, versions ascending, machines without a release last'),
});
export type MetricsHistoryView = z.infer<typeof MetricsHistoryView>;
