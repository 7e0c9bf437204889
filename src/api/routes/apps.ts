import { AppParams, CreateAppBody, DestroyQuery } from '../contract.js';
import type { Api, ApiDeps } from '../server.js';
import { appView } from '../views.js';

export function appRoutes(app: Api, deps: ApiDeps): void {
  app.get('/v1/apps', { schema: { tags: ['apps'], summary: 'List apps' } }, async () => {
    const list = await deps.apps.list();
    return { total_apps: list.length, apps: list.map((s) => appView(s.app, s.machineCount, deps.proxy)) };
  });

  app.post('/v1/apps', { schema: { tags: ['apps'], summary: 'Create an app', body: CreateAppBody } }, async (req, reply) => {
    const created = await deps.apps.create(req.body.app_name);
    return reply.status(201).send(appView(created, 0, deps.proxy));
  });

  app.get('/v1/apps/:app', { schema: { tags: ['apps'], summary: 'Show an app', params: AppParams } }, async (req) => {
    const s = await deps.apps.get(req.params.app);
    return appView(s.app, s.machineCount, deps.proxy);
  });

  app.delete('/v1/apps/:app', { schema: { tags: ['apps'], summary: 'Destroy an app and its machines', params: AppParams, querystring: DestroyQuery } }, async (req, reply) => {
    await deps.apps.destroy(req.params.app, req.query.force === 'true');
    return reply.status(202).send({ ok: true });
  });
}
