import { parseDuration } from '../../core/duration.js';
import { UserError } from '../../core/errors.js';
import type { WindowStats } from '../../core/window-stats.js';
import { AppParams, CompareBody, MetricsQuery } from '../contract.js';
import type { Api, ApiDeps } from '../server.js';

function statsView(s: WindowStats) {
  return { requests: s.requests, errors: s.errors, error_rate: s.errorRate, p50_ms: s.p50Ms, p95_ms: s.p95Ms, p99_ms: s.p99Ms, by_class: s.byClass };
}

/** Prometheus text on /metrics; rolling windows of the proxy's own request metrics per app or machine set. */
export function metricsRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['metrics'];
  const windowMs = (w: string) => {
    const ms = parseDuration(w)!;
    if (ms < 1000 || ms > 600_000) throw new UserError({ code: 'invalid_input', message: `window ${w} must be between 1s and 10m`, details: [{ path: 'window', message: 'out of range', value: w }] });
    return ms;
  };

  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics of the proxy' } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.prometheus();
  });

  app.get('/v1/apps/:app/metrics', { schema: { tags, summary: 'Request metrics over the last window, for the app or a set of its machines', params: AppParams, querystring: MetricsQuery } }, async (req) => {
    await deps.apps.get(req.params.app);
    const ms = windowMs(req.query.window);
    const stats = req.query.machines ? deps.metrics.window(req.query.machines.split(','), ms) : deps.metrics.appWindow(req.params.app, ms);
    return { window_ms: ms, ...statsView(stats) };
  });

  app.post('/v1/apps/:app/metrics/compare', { schema: { tags, summary: 'Compare two machine sets over the same window (error rate, p95)', params: AppParams, body: CompareBody } }, async (req) => {
    await deps.apps.get(req.params.app);
    const ms = windowMs(req.body.window);
    return { window_ms: ms, a: statsView(deps.metrics.window(req.body.a, ms)), b: statsView(deps.metrics.window(req.body.b, ms)) };
  });
}
