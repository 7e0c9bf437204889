import type { FastifyRequest } from 'fastify';
import { DEPLOYMENT_ID_PATTERN, MACHINE_ID_PATTERN, appName } from './contract-parts.js';
import type { ApiDeps } from './server.js';

/**
 * Looks up what a request's path names (its app, machine or deployment) before its query and body are
 * validated, so a request about something that does not exist answers 404 whatever else is wrong with
 * it, and never gets as far as resolving images or starting anything. A path parameter that is not
 * even well-formed is left to validation, which names it (400).
 */
export function lookUpTargets(deps: Pick<ApiDeps, 'machines' | 'deploys'>) {
  return async (req: FastifyRequest): Promise<void> => {
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    const url = req.routeOptions.url ?? '';
    if (url.startsWith('/v1/apps/:app') && params.app !== undefined) {
      if (!appName.safeParse(params.app).success) return;
      await deps.machines.app(params.app);
      if (url.startsWith('/v1/apps/:app/machines/:id') && params.id !== undefined && MACHINE_ID_PATTERN.test(params.id)) await deps.machines.get(params.app, params.id);
    }
    if (url.startsWith('/v1/deployments/:id') && params.id !== undefined && DEPLOYMENT_ID_PATTERN.test(params.id)) await deps.deploys.get(params.id);
  };
}
