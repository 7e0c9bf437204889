import type { FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import type { Deployment, Release } from '../../core/deploy.js';
import {
  AppParams,
  ControlParams,
  DeployBody,
  DeployEventLine,
  DeploymentListView,
  DeploymentParams,
  DeploymentView,
  EventsQuery,
  ReleaseListView,
  RetryBody,
  RollbackBody,
  type ReleaseView,
} from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';

export function deploymentView(d: Deployment): DeploymentView {
  return {
    id: d.id,
    app: d.appName,
    release: d.releaseVersion,
    status: d.status,
    phase: d.phase,
    strategy: d.options.strategy,
    machines: d.machines.map((p) => ({ id: p.machineId, group: p.group, region: p.region, outcome: p.outcome, ...(p.error ? { error: p.error } : {}) })),
    error: d.error ?? null,
    extra: d.extra ?? {},
    paused: d.paused === true,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
  };
}

export function releaseView(r: Release): ReleaseView {
  return { version: r.version, stable: r.stable, type: 'release', status: r.status, description: r.description, user: r.user, image: r.imageRef, strategy: r.strategy, created_at: r.createdAt };
}

const userOf = (req: FastifyRequest, given?: string) => given ?? (req.headers['hangar-user'] as string | undefined) ?? 'local';

/** Deploys, their event streams, releases and rollback. */
export function deploymentRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['deployments'];
  const eventsRaw = { mediaType: 'application/x-ndjson', schema: DeployEventLine, description: 'One event (JSON) per line, in order; with follow=true the stream ends after the `done` event' };
  app.post('/v1/apps/:app/deployments', {
      schema: route({
        tags,
        summary: 'Start a deploy (runs in the daemon; follow its events)',
        params: AppParams,
        body: DeployBody,
        ok: { 201: DeploymentView },
        errors: {
          400: 'also when the config text is invalid (each problem named in details)',
          404: 'also when the image is nowhere (image_not_found)',
          409: 'another deploy of the app is running (deploy_in_progress)',
          503: "the image's runtime (the Docker Engine) does not answer",
        },
      }),
    }, async (req, reply) => {
    const b = req.body;
    const d = await deps.deploys.submit(req.params.app, {
      image: b.image,
      configText: b.config_text,
      configPath: b.config_path,
      strategy: b.strategy,
      maxUnavailable: b.max_unavailable,
      waitTimeoutMs: b.wait_timeout === undefined ? undefined : parseDuration(b.wait_timeout),
      releaseCommandTimeoutMs: b.release_command_timeout === undefined ? undefined : parseDuration(b.release_command_timeout),
      skipReleaseCommand: b.skip_release_command,
      maxFailures: b.max_failures,
      autoRollback: b.auto_rollback,
      env: b.env,
      targeting: { onlyMachines: b.only_machines, excludeMachines: b.exclude_machines, regions: b.regions, excludeRegions: b.exclude_regions, processGroups: b.process_groups },
      user: userOf(req, b.user),
      description: b.description,
      noCutover: b.no_cutover,
      notifyUrl: b.notify,
      rotateDeadlineMs: b.rotate_deadline === undefined ? undefined : parseDuration(b.rotate_deadline),
      rotateIdleMs: b.rotate_idle === undefined ? undefined : parseDuration(b.rotate_idle),
    });
    return reply.status(201).send(deploymentView(d));
  });

  app.get('/v1/apps/:app/deployments', { schema: route({ tags, summary: 'Deployments, newest first', params: AppParams, ok: { 200: DeploymentListView } }) }, async (req) => (await deps.deploys.list(req.params.app)).map(deploymentView));

  app.get('/v1/deployments/:id', { schema: route({ tags, summary: 'One deployment with per-machine outcomes', params: DeploymentParams, ok: { 200: DeploymentView } }) }, async (req) => deploymentView(await deps.deploys.get(req.params.id)));

  app.get('/v1/deployments/:id/events', { schema: route({ tags, summary: 'Progress events as NDJSON (replayed, then followed until done)', params: DeploymentParams, querystring: EventsQuery, raw: eventsRaw }) }, async (req, reply) => {
    const d = await deps.deploys.get(req.params.id);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    let last = req.query.after;
    let ended = false;
    let replaying = true;
    let lastStoredSeq = 0;
    const write = (e: { seq: number; event: { type: string } }) => {
      if (e.seq <= last || ended) return;
      last = e.seq;
      res.write(JSON.stringify(e) + '\n');
      // A retried deployment has an earlier `done` in its history; only the newest one ends the stream.
      if (e.event.type === 'done' && (!replaying || e.seq >= lastStoredSeq)) {
        ended = true;
        res.end();
      }
    };
    const buffered: Array<{ seq: number; at: string; event: { type: string } }> = [];
    // Subscribe before reading the history, so nothing emitted in between is lost.
    const off = req.query.follow === 'true' && d.status === 'running' ? deps.deploys.onEvent(d.id, (e) => (replaying ? buffered.push(e) : write(e))) : () => {};
    const stored = await deps.deploys.events(d.id, last);
    lastStoredSeq = Math.max(stored.at(-1)?.seq ?? 0, buffered.at(-1)?.seq ?? 0);
    for (const e of stored) write(e);
    for (const e of buffered) write(e);
    replaying = false;
    if (req.query.follow !== 'true' || d.status !== 'running') {
      off();
      if (!ended) res.end();
      return;
    }
    res.on('close', off);
  });

  app.post('/v1/deployments/:id/:action', { schema: route({ tags, summary: 'promote, abort, pause or resume a running deploy', params: ControlParams, ok: { 200: DeploymentView }, errors: { 409: 'the deploy is not running, or its strategy or phase does not take this action' } }) }, async (req) => {
    return deploymentView(await deps.deploys.control(req.params.id, req.params.action));
  });

  app.post('/v1/deployments/:id/retry', { schema: route({ tags, summary: 'Retry the failed machines of a failed deploy (all, or one)', params: DeploymentParams, body: RetryBody, ok: { 201: DeploymentView }, errors: { 409: 'the deploy did not fail, or its release is no longer the newest' } }) }, async (req, reply) => {
    const { d, fromSeq } = await deps.deploys.retry(req.params.id, req.body?.machine);
    return reply.status(201).send({ ...deploymentView(d), events_from: fromSeq });
  });

  app.get('/v1/apps/:app/releases', { schema: route({ tags: ['releases'], summary: 'Releases, newest first', params: AppParams, ok: { 200: ReleaseListView } }) }, async (req) => (await deps.deploys.releases(req.params.app)).map(releaseView));

  app.post('/v1/apps/:app/releases/rollback', {
      schema: route({
        tags: ['releases'],
        summary: 'Deploy an earlier release again (fast path: health-gated, no canary, no soak)',
        params: AppParams,
        body: RollbackBody,
        ok: { 201: DeploymentView },
        errors: { 404: 'also when the app has no such release (release_not_found, no_stable_release)', 409: 'a deploy is running, or the release cannot be deployed again', 503: "the image's runtime does not answer" },
      }),
    }, async (req, reply) => {
    const b = req.body ?? {};
    const d = await deps.deploys.rollback(req.params.app, { version: b.version, user: userOf(req, b.user), strategy: b.strategy });
    return reply.status(201).send(deploymentView(d));
  });
}
