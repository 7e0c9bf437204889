import type { AppRouting } from '../../core/types.js';
import { parseDuration } from '../../core/duration.js';
import { AppParams, RoutingPatch } from '../contract.js';
import type { Api, ApiDeps } from '../server.js';

/** The API's snake_case view of an app's routing. */
export function routingView(r: AppRouting) {
  return {
    hostnames: r.hostnames ?? [],
    hold_timeout_ms: r.holdTimeoutMs ?? null,
    idle_timeout_ms: r.idleTimeoutMs ?? null,
    ports: r.ports ?? [],
    sets: r.sets ?? [],
    pins: r.pins ?? [],
  };
}

export function routingRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['routing'];
  app.get('/v1/apps/:app/routing', { schema: { tags, summary: "The app's routing: hostnames, hold window, dedicated ports, traffic sets and pins", params: AppParams } }, async (req) => {
    return routingView((await deps.apps.get(req.params.app)).app.routing);
  });

  app.patch('/v1/apps/:app/routing', { schema: { tags, summary: 'Change routing (keys given replace, null clears)', params: AppParams, body: RoutingPatch } }, async (req) => {
    const b = req.body;
    const patch: { [K in keyof AppRouting]?: AppRouting[K] | null } = {
      hostnames: b.hostnames === null ? null : b.hostnames?.map((h) => h.toLowerCase()),
      holdTimeoutMs: b.hold_timeout === null ? null : b.hold_timeout === undefined ? undefined : parseDuration(b.hold_timeout),
      idleTimeoutMs: b.idle_timeout === null ? null : b.idle_timeout === undefined ? undefined : parseDuration(b.idle_timeout),
      ports: b.ports,
      sets: b.sets,
      pins: b.pins,
    };
    return routingView(await deps.apps.setRouting(req.params.app, patch));
  });
}
