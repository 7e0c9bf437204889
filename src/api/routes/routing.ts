import type { AppRouting } from '../../core/types.js';
import { parseDuration } from '../../core/duration.js';
import { AppParams, RoutingPatch, RoutingView } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';

/** The API's snake_case view of an app's routing, with the dedicated ports the proxy could not open. */
export function routingView(r: AppRouting, portsFailed: RoutingView['ports_failed'] = []): RoutingView {
  return {
    hostnames: r.hostnames ?? [],
    hold_timeout_ms: r.holdTimeoutMs ?? null,
    idle_timeout_ms: r.idleTimeoutMs ?? null,
    ports: r.ports ?? [],
    tls_ports: r.tlsPorts ?? [],
    force_https: r.forceHttps ?? false,
    ports_failed: portsFailed,
    sets: r.sets ?? [],
    pins: r.pins ?? [],
  };
}

export function routingRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['routing'];
  const failed = (name: string) => deps.portsFailed?.(name) ?? [];
  const summary = "The app's routing: hostnames, hold window, dedicated ports (and those that could not be opened), traffic sets and pins";
  app.get('/v1/apps/:app/routing', { schema: route({ tags, summary, params: AppParams, ok: { 200: RoutingView } }) }, async (req) => {
    return routingView((await deps.apps.get(req.params.app)).app.routing, failed(req.params.app));
  });

  const errors = {
    400: 'also routing_inconsistent when its parts contradict each other (ports repeat, tls_ports not among ports, duplicate set names, every set at weight 0 without a pin, a pin naming no set), or a port needs privileges the daemon lacks (each named in details)',
    409: "a port is the API's or the proxy's own, another app's, or in use on the host (port_in_use)",
  };
  app.patch('/v1/apps/:app/routing', { schema: route({ tags, summary: 'Change routing (keys given replace, null clears)', params: AppParams, body: RoutingPatch, ok: { 200: RoutingView }, errors }) }, async (req) => {
    const b = req.body;
    const patch: { [K in keyof AppRouting]?: AppRouting[K] | null } = {
      hostnames: b.hostnames === null ? null : b.hostnames?.map((h) => h.toLowerCase()),
      holdTimeoutMs: b.hold_timeout === null ? null : b.hold_timeout === undefined ? undefined : parseDuration(b.hold_timeout),
      idleTimeoutMs: b.idle_timeout === null ? null : b.idle_timeout === undefined ? undefined : parseDuration(b.idle_timeout),
      ports: b.ports,
      tlsPorts: b.tls_ports,
      forceHttps: b.force_https,
      sets: b.sets,
      pins: b.pins,
    };
    return routingView(await deps.apps.setRouting(req.params.app, patch), failed(req.params.app));
  });
}
