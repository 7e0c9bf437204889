import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { MAX_DURATION_MS, queryDuration } from '../contract-parts.js';
import { route } from '../openapi.js';
import { UserError } from '../../core/errors.js';
import { isRegistryPrefix } from '../../core/image-ref.js';
import { DEFAULT_REGISTRY, type Image } from '../../core/types.js';
import type { DockerBuildOptions, DockerBuildResult } from '../../images/docker-builder.js';
import type { BuildOptions } from '../../images/builder.js';
import type { StoredImage } from '../../images/store.js';
import { SNAPSHOT_CONTENT_TYPE } from '../../images/stream.js';
import { AppParams, BuildEvent, ImageTag } from '../contract.js';
import { errorAnswer } from '../errors.js';
import type { Api, ApiDeps } from '../server.js';
import { imageView } from '../views.js';

/**
 * What the build route needs: builders (`ImageBuilder` for processes, `DockerImageBuilder` through the
 * engine) and a way to name their results (`ImageCatalog`).
 */
export interface BuildDeps {
  builder: { build(input: Readable, opts: BuildOptions): Promise<StoredImage> };
  /** Absent when the daemon has no Docker configuration; `dockerProblem` then says why. */
  docker?: { build(input: Readable, opts: DockerBuildOptions): Promise<DockerBuildResult> };
  dockerProblem?: () => Error | undefined;
  images: {
    register(appName: string, tag: string, stored: StoredImage): Promise<Image>;
    registerDocker(appName: string, fullTag: string, id: string): Promise<Image>;
  };
}

const REGISTRY_FORM = 'expected a registry host, optionally with a port and a namespace, such as "ghcr.io/myorg" or "127.0.0.1:5000"';

/** The JSON a `build_args` query parameter carries. */
const BuildArgs = z.record(z.string(), z.string());

export const BuildQuery = z.object({
  tag: ImageTag,
  command: z.string().min(1).max(4096).optional(),
  /** setTimeout overflows past 2^31-1 ms (~24.8 days) and would fire at once; a day is plenty for a build. */
  timeout: queryDuration(1, MAX_DURATION_MS)
    .default('10m')
    .transform((v) => parseDuration(v)!),
  /** `docker`: build the snapshot's Dockerfile through the engine; `process` (default): run `command` in it. */
  runtime: z.enum(['process', 'docker']).default('process'),
  dockerfile: z.string().min(1).max(1024).optional(),
  target: z.string().min(1).max(128).optional(),
  /** A JSON object of build arguments, e.g. `{"NODE_VERSION":"20"}`. */
  build_args: z
    .string()
    .max(65536)
    .transform((v, ctx) => {
      try {
        const parsed = BuildArgs.safeParse(JSON.parse(v));
        if (parsed.success) return parsed.data;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'expected a JSON object of string values, such as {"NODE_VERSION":"20"}' });
      return z.NEVER;
    })
    // The document says what the string holds: a JSON object (see finishDocument).
    .meta({ 'x-json-content': z.toJSONSchema(BuildArgs, { target: 'draft-2020-12' }) })
    .optional(),
  /** Docker builds are tagged `<registry>/<app>:<tag>`; default `hangar.local`. */
  registry: z
    .string()
    .max(255)
    .refine(isRegistryPrefix, { message: REGISTRY_FORM })
    .meta({ description: `${REGISTRY_FORM} (a host needs a dot, a port or to be localhost)` })
    .optional(),
}).strict();


/**
 * `POST /v1/apps/:app/builds`: the body is a snapshot stream; the daemon runs the build command in it
 * and stores the result as `<app>:<tag>`. The answer is a 200 NDJSON stream from the start, because
 * the build's output must reach the user while it runs; how the build ended is therefore its last line,
 * not the status code. Everything that can be refused without reading the body (bad query, unknown
 * app, wrong content type) still gets an ordinary 4xx.
 */
export function buildRoutes(app: Api, deps: ApiDeps): void {
  const summary = `Build an image from a directory snapshot (${SNAPSHOT_CONTENT_TYPE}); streams NDJSON output, then the image or the error`;
  const raw = { mediaType: 'application/x-ndjson', schema: BuildEvent, description: 'One JSON object per line: `output` lines while building, then one `image` or `error` line (how the build ended)' };
  const errors = {
    400: `also when the body is JSON rather than ${SNAPSHOT_CONTENT_TYPE} (unsupported_media_type)`,
    503: 'this daemon cannot build (builds_unavailable), or not a Dockerfile (docker_unavailable)',
  };
  const schema = route({ tags: ['images'], summary, params: AppParams, querystring: BuildQuery, upload: SNAPSHOT_CONTENT_TYPE, raw, errors });
  app.post('/v1/apps/:app/builds', { schema }, async (req, reply) => {
    if (req.headers['content-type'] !== SNAPSHOT_CONTENT_TYPE) {
      throw new UserError({ code: 'unsupported_media_type', message: `build contexts must be sent as ${SNAPSHOT_CONTENT_TYPE}`, hint: 'use the hangar CLI (hangar deploy) to build a directory' });
    }
    const builds = deps.builds;
    if (!builds) throw new UserError({ code: 'builds_unavailable', kind: 'unavailable', message: 'this daemon cannot build images', hint: 'upload a built directory instead: hangar machines run DIR' });
    const { app: appName } = req.params;
    const { tag, command, timeout, runtime } = req.query;
    await deps.apps.get(appName);
    if (runtime === 'docker' && !builds.docker) {
      const why = builds.dockerProblem?.()?.message ?? 'the Docker runtime is not configured';
      throw new UserError({ code: 'docker_unavailable', kind: 'unavailable', message: `this daemon cannot build a Dockerfile: ${why}`, hint: 'fix DOCKER_HOST for the daemon (unix:///var/run/docker.sock or tcp://127.0.0.1:PORT) and restart it' });
    }

    const { send, cancel, res } = ndjsonStream<BuildEvent>(reply);
    const started = Date.now();
    const onOutput = (stream: 'stdout' | 'stderr', line: string) => send({ type: 'output', stream, line });
    try {
      let image: Image;
      if (runtime === 'docker') {
        const q = req.query;
        const fullTag = `${q.registry ?? DEFAULT_REGISTRY}/${appName}:${tag}`;
        const built = await builds.docker!.build(req.body as Readable, { tag: fullTag, dockerfile: q.dockerfile, target: q.target, args: q.build_args, timeoutMs: timeout, signal: cancel.signal, onOutput });
        image = await builds.images.registerDocker(appName, fullTag, built.id);
      } else {
        const stored = await builds.builder.build(req.body as Readable, { command, timeoutMs: timeout, signal: cancel.signal, onOutput });
        image = await builds.images.register(appName, tag, stored);
      }
      deps.log.info({ app: appName, tag, runtime, digest: image.ref.digest, ms: Date.now() - started }, 'image built');
      send({ type: 'image', image: imageView(image) });
    } catch (err) {
      send({ type: 'error', error: errorAnswer(err, { log: deps.log, requestId: req.id, fields: { app: appName } }).body });
    }
    res.end();
  });
}

/**
 * Takes the reply over for an NDJSON stream (200 from the start) whose last line says how the work
 * ended. `cancel` aborts when the client goes away before the end.
 */
export function ndjsonStream<E>(reply: FastifyReply): { send: (e: E) => void; cancel: AbortController; res: ServerResponse } {
  const cancel = new AbortController();
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // 'close' also follows a normal end; only a close before it means the client went away.
  res.on('close', () => {
    if (!res.writableEnded) cancel.abort();
  });
  const send = (e: E) => {
    if (!res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(e)}\n`);
  };
  return { send, cancel, res };
}
