import type { FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import { UserError } from '../../core/errors.js';
import type { MachineState } from '../../core/types.js';
import {
  AppParams,
  CreateMachineBody,
  DestroyQuery,
  LEASE_NONCE_HEADERS,
  LeaseBody,
  LeaseView,
  ListMachinesQuery,
  MachineEventsView,
  MachineListView,
  MachineParams,
  MachineView,
  OkView,
  StopBody,
  UpdateMachineBody,
  WaitQuery,
  WaitView,
} from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';
import { eventView, leaseView, machineView } from '../views.js';

function nonceOf(req: FastifyRequest): string | undefined {
  for (const h of LEASE_NONCE_HEADERS) {
    const v = req.headers[h];
    if (typeof v === 'string' && v) return v;
  }
  return undefined;
}

const tags = ['machines'];

const LEASE = 'the machine is leased and the request does not carry its nonce (lease_held)';
const RUNTIME = "the machine's runtime (the Docker Engine) does not answer";
/** What every call that changes a machine can be refused for. */
const CHANGE = { 409: LEASE, 412: 'the machine is destroyed, or in a state that does not allow it', 503: RUNTIME } as const;

export function machineRoutes(app: Api, deps: ApiDeps): void {
  const ms = deps.machines;
  const view = async (appName: string, id: string) => {
    const m = await ms.get(appName, id);
    return machineView(m, await ms.events(appName, id, 20), deps.checks(m.id), deps.inflight(appName, m.id), deps.hosts.machineHost(m.hostId));
  };

  app.get('/v1/apps/:app/machines', { schema: route({ tags, summary: 'List machines', params: AppParams, querystring: ListMachinesQuery, ok: { 200: MachineListView } }) }, async (req) => {
    const list = await ms.list(req.params.app, {
      includeDestroyed: req.query.include_deleted === 'true',
      region: req.query.region,
      state: req.query.state?.split(',') as MachineState[] | undefined,
    });
    const events = await deps.machines.recentEvents(list.map((m) => m.id));
    return list.map((m) => machineView(m, events.get(m.id), deps.checks(m.id), deps.inflight(m.appName, m.id), deps.hosts.machineHost(m.hostId)));
  });

  app.post('/v1/apps/:app/machines', {
      schema: route({
        tags,
        summary: 'Create (and start) a machine',
        params: AppParams,
        body: CreateMachineBody,
        ok: { 201: MachineView },
        errors: {
          400: 'also when the image cannot run as configured (no_command)',
          404: 'also when the image is in neither the app nor the Docker Engine (image_not_found), or `host` names no host (host_not_found)',
          409: 'the app has a machine of that name (machine_name_taken)',
          412: 'no ready host in the region has the runtime (no_host_in_region), or the `host` asked for is not ready or lacks the runtime (a host of another region than `region` is a 400)',
          503: `${RUNTIME}; or the machine's host does not answer (host_unreachable, host_down)`,
        },
      }),
    }, async (req, reply) => {
    const m = await ms.create(req.params.app, { name: req.body.name, region: req.body.region, host: req.body.host, config: req.body.config, skipLaunch: req.body.skip_launch });
    return reply.status(201).send(await view(req.params.app, m.id));
  });

  app.get('/v1/apps/:app/machines/:id', { schema: route({ tags, summary: 'Get a machine', params: MachineParams, ok: { 200: MachineView } }) }, async (req) => view(req.params.app, req.params.id));

  app.post('/v1/apps/:app/machines/:id', { schema: route({ tags, summary: 'Update a machine (new instance)', params: MachineParams, body: UpdateMachineBody, ok: { 200: MachineView }, errors: { 400: 'also when the image cannot run as configured (no_command)', 404: 'also when the image is nowhere (image_not_found)', ...CHANGE } }) }, async (req) => {
    await ms.update(req.params.app, req.params.id, { region: req.body.region, config: req.body.config, skipLaunch: req.body.skip_launch }, nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.delete('/v1/apps/:app/machines/:id', { schema: route({ tags, summary: 'Destroy a machine', params: MachineParams, querystring: DestroyQuery, ok: { 200: MachineView }, errors: { ...CHANGE, 412: 'the machine runs and force is not set (machine_running)' } }) }, async (req) => {
    await ms.destroy(req.params.app, req.params.id, req.query.force === 'true', nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.post('/v1/apps/:app/machines/:id/start', { schema: route({ tags, summary: 'Start a machine', params: MachineParams, ok: { 200: MachineView }, errors: CHANGE }) }, async (req) => {
    await ms.start(req.params.app, req.params.id, nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  const stopInput = (b: { signal?: string; timeout?: string | number }) => ({
    signal: b.signal,
    timeoutMs: b.timeout === undefined ? undefined : parseDuration(b.timeout),
  });

  app.post('/v1/apps/:app/machines/:id/stop', { schema: route({ tags, summary: 'Stop a machine (kill_signal, then SIGKILL after kill_timeout)', params: MachineParams, body: StopBody, ok: { 200: MachineView }, errors: CHANGE }) }, async (req) => {
    await ms.stop(req.params.app, req.params.id, stopInput(req.body ?? {}), nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.post('/v1/apps/:app/machines/:id/restart', { schema: route({ tags, summary: 'Restart a machine', params: MachineParams, body: StopBody, ok: { 200: MachineView }, errors: CHANGE }) }, async (req) => {
    await ms.restart(req.params.app, req.params.id, stopInput(req.body ?? {}), nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  for (const action of ['cordon', 'uncordon'] as const) {
    app.post(`/v1/apps/:app/machines/:id/${action}`, { schema: route({ tags, summary: `${action === 'cordon' ? 'Cordon' : 'Uncordon'} a machine`, params: MachineParams, ok: { 200: MachineView }, errors: { 409: LEASE } }) }, async (req) => {
      const { app: a, id } = req.params as { app: string; id: string };
      await ms.setCordon(a, id, action === 'cordon', nonceOf(req));
      return view(a, id);
    });
  }

  app.get('/v1/apps/:app/machines/:id/wait', { schema: route({ tags, summary: 'Wait for a state (408 on timeout)', params: MachineParams, querystring: WaitQuery, ok: { 200: WaitView }, errors: { 408: 'or the machine did not reach the state within timeout seconds (wait_timeout)' } }) }, async (req) => {
    const m = await ms.wait(req.params.app, req.params.id, { state: req.query.state, timeoutMs: req.query.timeout * 1000, instanceId: req.query.instance_id });
    return { ok: true as const, state: m.state, instance_id: m.instanceId };
  });

  app.get('/v1/apps/:app/machines/:id/events', { schema: route({ tags, summary: 'Machine events, newest first', params: MachineParams, ok: { 200: MachineEventsView } }) }, async (req) => {
    return (await ms.events(req.params.app, req.params.id, 100)).map(eventView);
  });

  app.get('/v1/apps/:app/machines/:id/lease', { schema: route({ tags, summary: 'Show the lease', params: MachineParams, ok: { 200: LeaseView }, errors: { 404: 'also when the machine has no lease (lease_not_found)' } }) }, async (req) => {
    await ms.get(req.params.app, req.params.id);
    const l = await deps.leases.current(req.params.id);
    if (!l) throw new UserError({ code: 'lease_not_found', kind: 'not_found', message: `machine ${req.params.id} has no lease`, hint: 'acquire one with POST …/lease' });
    return leaseView(l);
  });

  app.post('/v1/apps/:app/machines/:id/lease', { schema: route({ tags, summary: 'Acquire or refresh (with the nonce header) a lease', params: MachineParams, body: LeaseBody, ok: { 201: LeaseView }, errors: { 409: 'someone else holds the lease (lease_held)' } }) }, async (req, reply) => {
    await ms.get(req.params.app, req.params.id);
    const body = req.body ?? { ttl: 30 };
    const owner = (req.headers['hangar-lease-owner'] as string | undefined) ?? 'api';
    const l = await deps.leases.acquire(req.params.id, { ttlSeconds: body.ttl, description: body.description, owner, nonce: nonceOf(req) });
    return reply.status(201).send(leaseView(l));
  });

  app.delete('/v1/apps/:app/machines/:id/lease', { schema: route({ tags, summary: 'Release a lease (nonce header required)', params: MachineParams, ok: { 200: OkView }, errors: { 409: 'the nonce header is not the lease\'s (lease_held)' } }) }, async (req) => {
    await ms.get(req.params.app, req.params.id);
    await deps.leases.release(req.params.id, nonceOf(req));
    return { ok: true as const };
  });
}
