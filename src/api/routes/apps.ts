import { AppListView, AppParams, AppView, CreateAppBody, DestroyQuery, OkView } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';
import { appView } from '../views.js';

export function appRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['apps'];
  app.get('/v1/apps', { schema: route({ tags, summary: 'List apps', ok: { 200: AppListView } }) }, async () => {
    const list = await deps.apps.list();
    return { total_apps: list.length, apps: list.map((s) => appView(s.app, s.machineCount, deps.proxy)) };
  });

  app.post('/v1/apps', { schema: route({ tags, summary: 'Create an app', body: CreateAppBody, ok: { 201: AppView }, errors: { 409: 'an app of that name exists (app_exists)' } }) }, async (req, reply) => {
    const created = await deps.apps.create(req.body.app_name);
    return reply.status(201).send(appView(created, 0, deps.proxy));
  });

  app.get('/v1/apps/:app', { schema: route({ tags, summary: 'Show an app', params: AppParams, ok: { 200: AppView } }) }, async (req) => {
    const s = await deps.apps.get(req.params.app);
    return appView(s.app, s.machineCount, deps.proxy);
  });

  app.delete(
    '/v1/apps/:app',
    {
      schema: route({
        tags,
        summary: 'Destroy an app and its machines',
        params: AppParams,
        querystring: DestroyQuery,
        ok: { 202: OkView },
        errors: { 412: 'machines still run and force is not set (app_has_running_machines)', 503: 'a machine runtime does not answer' },
      }),
    },
    async (req, reply) => {
      await deps.apps.destroy(req.params.app, req.query.force === 'true');
      return reply.status(202).send({ ok: true });
    },
  );
}
