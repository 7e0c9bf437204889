import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import type { WindowStats } from '../../core/window-stats.js';
import type { HistoryPoint } from '../../metrics/index.js';
import { AppParams, CompareBody, CompareView, MetricsQuery, MetricsView } from '../contract.js';
import { HistoryQuery, MetricsHistoryView, type HistoryPointView } from '../contract-history.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';

function statsView(s: WindowStats) {
  return { requests: s.requests, errors: s.errors, error_rate: s.errorRate, p50_ms: s.p50Ms, p95_ms: s.p95Ms, p99_ms: s.p99Ms, by_class: s.byClass };
}

function pointView(p: HistoryPoint): HistoryPointView {
  return { t: p.t, requests: p.requests, errors_5xx: p.errors5xx, p50_ms: p.p50Ms, p95_ms: p.p95Ms };
}

/**
 * Prometheus text on /metrics (this node's proxy); rolling windows of the proxies' request metrics per
 * app or machine set, summed over every node of a cluster; the last hour of them per app and release.
 */
export function metricsRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['metrics'];
  // The schemas hold the window to [1s, 10m], the proxy's memory.
  const windowMs = (w: string) => parseDuration(w)!;
  const prometheus = { mediaType: deps.metrics.contentType, schema: z.string(), description: 'Prometheus text exposition format' };

  app.get('/metrics', { schema: route({ tags, summary: 'Prometheus metrics of the proxy', raw: prometheus }) }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.prometheus();
  });

  app.get('/v1/apps/:app/metrics', { schema: route({ tags, summary: 'Request metrics over the last window, for the app or a set of its machines', params: AppParams, querystring: MetricsQuery, ok: { 200: MetricsView } }) }, async (req) => {
    await deps.apps.get(req.params.app);
    const ms = windowMs(req.query.window);
    const [stats] = await deps.windows.windows([req.query.machines ? { machines: req.query.machines.split(',') } : { app: req.params.app }], ms);
    return { window_ms: ms, ...statsView(stats!) };
  });

  app.post('/v1/apps/:app/metrics/compare', { schema: route({ tags, summary: 'Compare two machine sets over the same window (error rate, p95)', params: AppParams, body: CompareBody, ok: { 200: CompareView } }) }, async (req) => {
    await deps.apps.get(req.params.app);
    const ms = windowMs(req.body.window);
    const [a, b] = await deps.windows.windows([{ machines: req.body.a }, { machines: req.body.b }], ms);
    return { window_ms: ms, a: statsView(a!), b: statsView(b!) };
  });

  app.get('/v1/apps/:app/metrics/history', { schema: route({ tags, summary: "The last hour of the app's request metrics, per interval, for the app and each release", params: AppParams, querystring: HistoryQuery, ok: { 200: MetricsHistoryView } }) }, async (req) => {
    await deps.apps.get(req.params.app);
    const h = deps.history.history(req.params.app, req.query.since);
    return { interval_ms: h.intervalMs, points: h.points.map(pointView), releases: h.releases.map((r) => ({ version: r.version, points: r.points.map(pointView) })) };
  });
}
