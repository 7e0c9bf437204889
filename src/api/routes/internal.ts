import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { UserError } from '../../core/errors.js';
import type { Machine } from '../../core/types.js';
import type { Deployment } from '../../core/deploy.js';
import type { Api, ApiDeps } from '../server.js';
import { LogsQuery } from '../contract.js';
import { localLogs } from './logs.js';
import { CLUSTER_TOKEN_HEADER, INTERNAL_ROUTES } from '../../cluster/internal-paths.js';
import type { WindowCounts, WindowScope } from '../../core/window-stats.js';
import { METRICS_WINDOW_MS } from '../contract.js';

/** What the node-to-node routes carry out: machine operations for this host, image content by digest. */
export interface InternalApi {
  clusterToken: string;
  machineOp(op: unknown): Promise<Machine>;
  /** The snapshot stream of a process image this node stores, or undefined. */
  image(digest: string): Promise<Readable | undefined>;
  /** A Docker image from this host's engine as a `docker save` tar, or undefined. */
  dockerImage(name: string): Promise<Readable | undefined>;
  /** A control for a deploy this node runs, sent by the node the user asked. */
  deployControl(body: { id: string; control: string }): Promise<Deployment>;
  /** This node's proxy window sums, one per scope. */
  windowCounts(scopes: WindowScope[], windowMs: number): Promise<WindowCounts[]>;
}

const WindowsBody = z.object({
  scopes: z.array(z.union([z.object({ machines: z.array(z.string()) }), z.object({ app: z.string() })])).max(16),
  window_ms: z.number().int().min(METRICS_WINDOW_MS.min).max(METRICS_WINDOW_MS.max),
});

/**
 * Node-to-node routes, under /internal/: refused without the cluster token (on top of the API token),
 * and left out of the API document, since only hangar's own nodes call them.
 */
export function internalRoutes(app: Api, internal: InternalApi, deps: ApiDeps): void {
  const expected = Buffer.from(internal.clusterToken);
  const guard = async (req: FastifyRequest) => {
    const given = Buffer.from(String(req.headers[CLUSTER_TOKEN_HEADER] ?? ''));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new UserError({ code: 'cluster_token_invalid', kind: 'unauthorized', message: 'internal call without a valid cluster token', hint: 'only the nodes of the cluster call /internal/ routes' });
    }
  };
  app.post(INTERNAL_ROUTES.machineOp, { schema: { hide: true }, preHandler: guard }, async (req) => internal.machineOp(req.body));
  // This node's own log lines of an app (the node the user asked merges them with its own and the others').
  app.get<{ Params: { app: string }; Querystring: Record<string, string> }>(INTERNAL_ROUTES.logs, { schema: { hide: true }, preHandler: guard }, async (req, reply) => {
    const q = LogsQuery.parse(req.query);
    reply.hijack();
    await localLogs(deps, reply.raw, req.params.app, q);
  });
  app.post<{ Body: { id: string; control: string } }>(INTERNAL_ROUTES.deployControl, { schema: { hide: true }, preHandler: guard }, async (req) => internal.deployControl(req.body));
  app.post(INTERNAL_ROUTES.windows, { schema: { hide: true }, preHandler: guard }, async (req) => {
    const body = WindowsBody.safeParse(req.body);
    if (!body.success) throw new UserError({ code: 'invalid_request', kind: 'invalid', message: `window request: ${body.error.issues[0]?.message ?? 'invalid'}` });
    return { counts: await internal.windowCounts(body.data.scopes, body.data.window_ms) };
  });
  app.get<{ Params: { name: string } }>(INTERNAL_ROUTES.dockerImage, { schema: { hide: true }, preHandler: guard }, async (req, reply) => {
    const tar = await internal.dockerImage(req.params.name);
    if (!tar) throw new UserError({ code: 'image_not_found', kind: 'not_found', message: `image ${req.params.name} is not on this host's Docker Engine` });
    return reply.type('application/x-tar').send(tar);
  });
  app.get<{ Params: { digest: string } }>(INTERNAL_ROUTES.image, { schema: { hide: true }, preHandler: guard }, async (req, reply) => {
    const stream = await internal.image(req.params.digest);
    if (!stream) throw new UserError({ code: 'image_not_found', kind: 'not_found', message: `image ${req.params.digest} is not stored on this host` });
    return reply.type('application/vnd.hangar.snapshot.v1+gzip').send(stream);
  });
}
