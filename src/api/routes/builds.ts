import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { isUserError, UserError } from '../../core/errors.js';
import type { Image } from '../../core/types.js';
import type { BuildOptions } from '../../images/builder.js';
import type { StoredImage } from '../../images/store.js';
import { SNAPSHOT_CONTENT_TYPE } from '../../images/stream.js';
import { AppParams, ImageUploadQuery, type ErrorBody } from '../contract.js';
import type { Api, ApiDeps } from '../server.js';
import { imageView } from '../views.js';

/** What the build route needs: a builder (`ImageBuilder`) and a way to name its result (`ImageCatalog`). */
export interface BuildDeps {
  builder: { build(input: Readable, opts: BuildOptions): Promise<StoredImage> };
  images: { register(appName: string, tag: string, stored: StoredImage): Promise<Image> };
}

/** setTimeout overflows past 2^31-1 ms (~24.8 days) and would fire at once; a day is plenty for a build. */
const MAX_BUILD_TIMEOUT_MS = 24 * 3_600_000;

export const BuildQuery = z.object({
  tag: ImageUploadQuery.shape.tag,
  command: z.string().min(1).max(4096).optional(),
  timeout: z
    .string()
    .refine((v) => {
      const ms = parseDuration(v);
      return ms !== undefined && ms > 0 && ms <= MAX_BUILD_TIMEOUT_MS;
    }, { message: 'expected a duration between 1ms and 24h, such as "10m" or a number of seconds' })
    .default('10m')
    .transform((v) => parseDuration(v)!),
});

/**
 * One NDJSON line of a build response: any number of `output` lines, then exactly one `image` or
 * `error` line. (Candidates for api/contract.ts; they live here while builds are new.)
 */
export type { BuildEvent } from '../contract.js';
import type { BuildEvent } from '../contract.js';

/**
 * `POST /v1/apps/:app/builds`: the body is a snapshot stream; the daemon runs the build command in it
 * and stores the result as `<app>:<tag>`. The answer is a 200 NDJSON stream from the start, because
 * the build's output must reach the user while it runs; how the build ended is therefore its last line,
 * not the status code. Everything that can be refused without reading the body (bad query, unknown
 * app, wrong content type) still gets an ordinary 4xx.
 */
export function buildRoutes(app: Api, deps: ApiDeps): void {
  const summary = `Build an image from a directory snapshot (${SNAPSHOT_CONTENT_TYPE}); streams NDJSON output, then the image or the error`;
  app.post('/v1/apps/:app/builds', { schema: { tags: ['images'], summary, params: AppParams, querystring: BuildQuery } }, async (req, reply) => {
    if (req.headers['content-type'] !== SNAPSHOT_CONTENT_TYPE) {
      throw new UserError({ code: 'unsupported_media_type', message: `build contexts must be sent as ${SNAPSHOT_CONTENT_TYPE}`, hint: 'use the hangar CLI (hangar deploy) to build a directory' });
    }
    const builds = deps.builds;
    if (!builds) throw new UserError({ code: 'builds_unavailable', kind: 'unavailable', message: 'this daemon cannot build images', hint: 'upload a built directory instead: hangar machines run DIR' });
    const { app: appName } = req.params;
    const { tag, command, timeout } = req.query;
    await deps.apps.get(appName);

    const cancel = new AbortController();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    // 'close' also follows a normal end; only a close before it means the client went away.
    res.on('close', () => {
      if (!res.writableEnded) cancel.abort();
    });
    const send = (event: BuildEvent) => writeLine(res, event);
    const started = Date.now();
    try {
      const stored = await builds.builder.build(req.body as Readable, {
        command,
        timeoutMs: timeout,
        signal: cancel.signal,
        onOutput: (stream, line) => send({ type: 'output', stream, line }),
      });
      const image = await builds.images.register(appName, tag, stored);
      deps.log.info({ app: appName, tag, digest: stored.digest, ms: Date.now() - started }, 'image built');
      send({ type: 'image', image: imageView(image) });
    } catch (err) {
      send({ type: 'error', error: errorBody(err, deps.log, appName) });
    }
    res.end();
  });
}

function writeLine(res: ServerResponse, event: BuildEvent): void {
  if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(event)}\n`);
}

/** The API's error body (as `errorHandler` writes it), for an error that can no longer change the status. */
function errorBody(err: unknown, log: Logger, app: string): z.infer<typeof ErrorBody> {
  if (isUserError(err)) return { error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}), details: err.details };
  log.error({ err, app }, 'build failed');
  return { error: 'internal error (see the daemon log)', code: 'internal', details: [] };
}
