import { hostRoutes, type HostsApi } from './routes/hosts.js';
import { internalRoutes, type InternalApi } from './routes/internal.js';
import type { LogPeers } from './routes/logs.js';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import type { Image } from '../core/types.js';
import type { LogCollector } from '../logs/collector.js';
import type { TrafficWindows } from '../core/window-stats.js';
import type { MetricsHistory } from '../metrics/index.js';
import type { AppService } from '../machines/app-service.js';
import type { LeaseService } from '../machines/leases.js';
import type { MachineOps } from '../machines/ops.js';
import { HealthView, REQUEST_ID_HEADER } from './contract.js';
import { MAX_PARAM_LENGTH, NoQuery } from './contract-parts.js';
import { errorHandler } from './errors.js';
import { clientErrorHandler, frameworkErrors, RouteMethods, sendUnrouted } from './framework-errors.js';
import { documentRoute, finishDocument, route } from './openapi.js';
import { lookUpTargets } from './targets.js';
import { SNAPSHOT_CONTENT_TYPE } from '../images/stream.js';
import { appRoutes } from './routes/apps.js';
import { buildRoutes, type BuildDeps } from './routes/builds.js';
import { imageRoutes } from './routes/images.js';
import { logRoutes } from './routes/logs.js';
import { machineRoutes } from './routes/machines.js';
import { routingRoutes } from './routes/routing.js';
import { metricsRoutes } from './routes/metrics.js';
import { certsRoutes, type CertsApi } from './routes/certs.js';
import { deploymentRoutes } from './routes/deployments.js';
import { secretsRoutes } from './routes/secrets.js';
import { dashboardRoutes, type DashboardDeps } from './routes/dashboard.js';
import { authenticate } from './auth-hook.js';
import type { SecretsService } from '../secrets/index.js';
import type { DeployService } from '../deploy/deploy-service.js';
import type { Readable } from 'node:stream';

/** What the image routes need: storing uploads and looking images up by tag. */
export interface ImageApi {
  upload(appName: string, tag: string, body: Readable): Promise<Image>;
  list(appName: string): Promise<Image[]>;
  get(appName: string, ref: string): Promise<Image>;
  /** Pushes a Docker image the app built to the registry in its name. */
  push(appName: string, ref: string, opts: { auth?: string; onProgress: (line: string) => void; signal: AbortSignal }): Promise<{ ref: string; digest: string }>;
}

export interface ApiDeps {
  token: string;
  apps: AppService;
  machines: MachineOps;
  leases: LeaseService;
  images: ImageApi;
  /** Daemon-side builds (`POST /v1/apps/{app}/builds`); without it that route answers 503. */
  builds?: BuildDeps;
  logs: LogCollector;
  log: Logger;
  /** Current check results of a machine (from the health monitor). */
  checks: (machineId: string) => Array<{ name: string; status: string; output: string; updatedAt: string }>;
  deploys: DeployService;
  /** App secrets: listed by name and digest, changed and rolled out. */
  secrets: SecretsService;
  /** This node's proxy request metrics (Prometheus text). */
  metrics: { contentType: string; prometheus(): Promise<string> };
  /** The certificate store (`/v1/apps/{app}/certificates`). */
  certs?: CertsApi;
  /** Rolling windows of request metrics, over every proxy of the cluster. */
  windows: TrafficWindows;
  /** The last hour of request metrics per app and release (`/v1/apps/{app}/metrics/history`). */
  history: Pick<MetricsHistory, 'history'>;
  /** Requests the proxy has in flight on a machine. */
  inflight: (app: string, machineId: string) => number;
  version: string;
  /** Dedicated ports of the app the proxy could not open, with why (for its routing JSON). */
  portsFailed?: (app: string) => Array<{ port: number; error: string }>;
  /** Where the proxy listens (for URLs in responses). */
  proxy?: { host: string; port: number };
  apiUrl: () => string;
  /** The cluster's hosts (one, on a single node). */
  hosts: HostsApi;
  /** In a cluster: the routes other nodes call. */
  internal?: InternalApi;
  /** In a cluster: the other nodes' log streams, merged into this node's. */
  logPeers?: LogPeers;
  /** The web dashboard (its page, assets and sign-in); its session cookie then works on /v1 too. */
  dashboard?: DashboardDeps;
  /** In a cluster: this node's host name, on the log lines it stored. */
  hostName?: string;
}

export type Api = FastifyInstance<any, any, any, any, ZodTypeProvider>;

/** The documented path of the OpenAPI document. */
export const OPENAPI_PATH = '/v1/openapi.json';

/** Builds the REST API (not listening yet). */
export async function buildApi(deps: ApiDeps): Promise<Api> {
  const methods = new RouteMethods();
  // Request ids are ours (sortable, unguessable), never taken from the client: they key the daemon log.
  const app = Fastify({
    logger: false,
    bodyLimit: 4 * 1024 * 1024,
    forceCloseConnections: true,
    genReqId: () => ulid(),
    requestIdHeader: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: frameworkErrors(deps.log),
    clientErrorHandler: clientErrorHandler(methods, deps.log),
  }).withTypeProvider<ZodTypeProvider>();
  app.addHook('onRoute', (r) => methods.add(r.method, r.url));
  // fastify hands a request without a body to the validator as null; to the schemas it is an omitted
  // body, which optional bodies (stop, rollback, retry, lease) default.
  app.setValidatorCompiler((route) => {
    const validate = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
    return route.httpPart === 'body' ? (data: unknown) => validate(data === null ? undefined : data) : validate;
  });
  app.setSerializerCompiler(serializerCompiler);
  const unrouted = (req: FastifyRequest, reply: FastifyReply) => sendUnrouted(methods, req, reply);
  app.setErrorHandler(errorHandler(deps.log, unrouted));
  app.setNotFoundHandler(unrouted);
  // On the raw response, so that streamed answers (which take the reply over) carry it too.
  app.addHook('onRequest', async (req, reply) => {
    reply.raw.setHeader(REQUEST_ID_HEADER, req.id);
  });
  // Image uploads are streamed straight into the store, never buffered. Bodies are JSON otherwise
  // (fastify's text/plain parser would let a string reach the body schemas instead of a 415).
  app.addContentTypeParser(SNAPSHOT_CONTENT_TYPE, (_req, payload, done) => done(null, payload));
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', authenticate(deps));

  // What a request names is looked up before its query and body are validated (404 first).
  app.addHook('preValidation', lookUpTargets(deps));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'hangar API', version: deps.version, description: "hangar's daemon API, shaped like Fly's Machines API" },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: documentRoute,
    transformObject: finishDocument,
  });

  app.get('/health', { schema: route({ tags: ['daemon'], summary: 'Is the daemon up (no token needed)', open: true, ok: { 200: HealthView } }) }, async () => ({
    ok: true as const,
    version: deps.version,
    pid: process.pid,
    api: deps.apiUrl(),
    proxy: deps.proxy ? `http://${deps.proxy.host}:${deps.proxy.port}` : '',
  }));
  app.get(OPENAPI_PATH, { schema: { hide: true, querystring: NoQuery } }, async () => app.swagger());

  await app.register(async (scope) => {
    appRoutes(scope as Api, deps);
    machineRoutes(scope as Api, deps);
    imageRoutes(scope as Api, deps);
    buildRoutes(scope as Api, deps);
    logRoutes(scope as Api, deps);
    routingRoutes(scope as Api, deps);
    metricsRoutes(scope as Api, deps);
    deploymentRoutes(scope as Api, deps);
    secretsRoutes(scope as Api, deps);
    hostRoutes(scope as Api, deps);
    if (deps.certs) certsRoutes(scope as Api, { certs: deps.certs });
    if (deps.internal) internalRoutes(scope as Api, deps.internal, deps);
    if (deps.dashboard) dashboardRoutes(scope as Api, deps.dashboard);
  });
  return app;
}
