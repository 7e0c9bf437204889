import type { Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';
import { SNAPSHOT_CONTENT_TYPE } from '../../images/stream.js';
import { AppParams, ImageListView, ImageParams, ImageUploadQuery, ImageView, PushEvent, REGISTRY_AUTH_HEADER } from '../contract.js';
import { errorAnswer } from '../errors.js';
import { route } from '../openapi.js';
import { ndjsonStream } from './builds.js';
import type { Api, ApiDeps } from '../server.js';
import { imageView } from '../views.js';

/** Image routes. `{tag}` arrives decoded (fastify decodes path parameters once); it is never decoded again. */
export function imageRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['images'];
  app.post(
    '/v1/apps/:app/images',
    {
      schema: route({
        tags,
        summary: `Upload a directory snapshot (${SNAPSHOT_CONTENT_TYPE}) as <registry>/<app>:<tag>`,
        params: AppParams,
        querystring: ImageUploadQuery,
        upload: SNAPSHOT_CONTENT_TYPE,
        ok: { 201: ImageView },
        errors: { 400: `also when the body is JSON rather than ${SNAPSHOT_CONTENT_TYPE} (unsupported_media_type), or not a valid snapshot` },
      }),
    },
    async (req, reply) => {
      if (req.headers['content-type'] !== SNAPSHOT_CONTENT_TYPE) {
        throw new UserError({ code: 'unsupported_media_type', message: `image uploads must be sent as ${SNAPSHOT_CONTENT_TYPE}`, hint: 'use the hangar CLI (hangar machines run DIR) to upload a directory' });
      }
      const img = await deps.images.upload(req.params.app, req.query.tag, req.body as Readable);
      return reply.status(201).send(imageView(img));
    },
  );

  app.get('/v1/apps/:app/images', { schema: route({ tags, summary: 'List images', params: AppParams, ok: { 200: ImageListView } }) }, async (req) => (await deps.images.list(req.params.app)).map(imageView));

  const pushSummary = `Push a Docker image to its registry (credentials in the ${REGISTRY_AUTH_HEADER} header); streams NDJSON progress, then the pushed ref or the error`;
  const pushRaw = { mediaType: 'application/x-ndjson', schema: PushEvent, description: 'One JSON object per line: `output` lines, then one `pushed` or `error` line (how the push ended)' };
  app.post('/v1/apps/:app/images/:tag/push', { schema: route({ tags, summary: pushSummary, params: ImageParams, raw: pushRaw, errors: { 404: 'also when the app has no such image (image_not_found)' } }) }, async (req, reply) => {
    const { app: appName, tag } = req.params;
    await deps.images.get(appName, tag);
    const auth = req.headers[REGISTRY_AUTH_HEADER];
    const { send, cancel, res } = ndjsonStream<PushEvent>(reply);
    try {
      const pushed = await deps.images.push(appName, tag, { auth: typeof auth === 'string' ? auth : undefined, signal: cancel.signal, onProgress: (line) => send({ type: 'output', stream: 'stdout', line }) });
      send({ type: 'pushed', ...pushed });
    } catch (err) {
      send({ type: 'error', error: errorAnswer(err, { log: deps.log, requestId: req.id, fields: { app: appName } }).body });
    }
    res.end();
  });

  app.get(
    '/v1/apps/:app/images/:tag',
    { schema: route({ tags, summary: 'Inspect an image by tag, app:tag, full reference or digest (one encoded path segment)', params: ImageParams, ok: { 200: ImageView }, errors: { 404: 'also when the app has no such image (image_not_found)' } }) },
    async (req) => imageView(await deps.images.get(req.params.app, req.params.tag)),
  );
}
