import type { Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';
import { SNAPSHOT_CONTENT_TYPE } from '../../images/stream.js';
import { AppParams, ImageParams, ImageUploadQuery, REGISTRY_AUTH_HEADER, type PushEvent } from '../contract.js';
import { errorAnswer } from '../errors.js';
import { ndjsonStream } from './builds.js';
import type { Api, ApiDeps } from '../server.js';
import { imageView } from '../views.js';

export function imageRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['images'];
  app.post('/v1/apps/:app/images', { schema: { tags, summary: `Upload a directory snapshot (${SNAPSHOT_CONTENT_TYPE}) as <registry>/<app>:<tag>`, params: AppParams, querystring: ImageUploadQuery } }, async (req, reply) => {
    if (req.headers['content-type'] !== SNAPSHOT_CONTENT_TYPE) {
      throw new UserError({ code: 'unsupported_media_type', message: `image uploads must be sent as ${SNAPSHOT_CONTENT_TYPE}`, hint: 'use the hangar CLI (hangar machines run DIR) to upload a directory' });
    }
    const img = await deps.images.upload(req.params.app, req.query.tag, req.body as Readable);
    return reply.status(201).send(imageView(img));
  });

  app.get('/v1/apps/:app/images', { schema: { tags, summary: 'List images', params: AppParams } }, async (req) => (await deps.images.list(req.params.app)).map(imageView));

  app.post('/v1/apps/:app/images/:tag/push', { schema: { tags, summary: `Push a Docker image to its registry (credentials in the ${REGISTRY_AUTH_HEADER} header); streams NDJSON progress, then the pushed ref or the error`, params: ImageParams } }, async (req, reply) => {
    const { app: appName, tag } = req.params;
    await deps.images.get(appName, decodeURIComponent(tag));
    const auth = req.headers[REGISTRY_AUTH_HEADER];
    const { send, cancel, res } = ndjsonStream<PushEvent>(reply);
    try {
      const pushed = await deps.images.push(appName, decodeURIComponent(tag), { auth: typeof auth === 'string' ? auth : undefined, signal: cancel.signal, onProgress: (line) => send({ type: 'output', stream: 'stdout', line }) });
      send({ type: 'pushed', ...pushed });
    } catch (err) {
      send({ type: 'error', error: errorAnswer(err, { log: deps.log, requestId: req.id, fields: { app: appName } }).body });
    }
    res.end();
  });

  app.get('/v1/apps/:app/images/:tag', { schema: { tags, summary: 'Inspect an image by tag or reference', params: ImageParams } }, async (req) => imageView(await deps.images.get(req.params.app, decodeURIComponent(req.params.tag))));
}
