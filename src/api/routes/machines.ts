import type { FastifyRequest } from 'fastify';
import { parseDuration } from '../../core/duration.js';
import type { MachineState } from '../../core/types.js';
import {
  CreateMachineBody,
  DestroyQuery,
  LEASE_NONCE_HEADERS,
  LeaseBody,
  ListMachinesQuery,
  MachineParams,
  AppParams,
  StopBody,
  UpdateMachineBody,
  WaitQuery,
} from '../contract.js';
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

export function machineRoutes(app: Api, deps: ApiDeps): void {
  const ms = deps.machines;
  const view = async (appName: string, id: string) => {
    const m = await ms.get(appName, id);
    return machineView(m, await ms.events(appName, id, 20), deps.checks(m.id), deps.inflight(appName, m.id));
  };

  app.get('/v1/apps/:app/machines', { schema: { tags, summary: 'List machines', params: AppParams, querystring: ListMachinesQuery } }, async (req) => {
    const list = await ms.list(req.params.app, {
      includeDestroyed: req.query.include_deleted === 'true',
      region: req.query.region,
      state: req.query.state?.split(',') as MachineState[] | undefined,
    });
    const events = await deps.machines.recentEvents(list.map((m) => m.id));
    return list.map((m) => machineView(m, events.get(m.id), deps.checks(m.id), deps.inflight(m.appName, m.id)));
  });

  app.post('/v1/apps/:app/machines', { schema: { tags, summary: 'Create (and start) a machine', params: AppParams, body: CreateMachineBody } }, async (req, reply) => {
    const m = await ms.create(req.params.app, { name: req.body.name, region: req.body.region, config: req.body.config, skipLaunch: req.body.skip_launch });
    return reply.status(201).send(await view(req.params.app, m.id));
  });

  app.get('/v1/apps/:app/machines/:id', { schema: { tags, summary: 'Get a machine', params: MachineParams } }, async (req) => view(req.params.app, req.params.id));

  app.post('/v1/apps/:app/machines/:id', { schema: { tags, summary: 'Update a machine (new instance)', params: MachineParams, body: UpdateMachineBody } }, async (req) => {
    await ms.update(req.params.app, req.params.id, { region: req.body.region, config: req.body.config, skipLaunch: req.body.skip_launch }, nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.delete('/v1/apps/:app/machines/:id', { schema: { tags, summary: 'Destroy a machine', params: MachineParams, querystring: DestroyQuery } }, async (req) => {
    await ms.destroy(req.params.app, req.params.id, req.query.force === 'true', nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.post('/v1/apps/:app/machines/:id/start', { schema: { tags, summary: 'Start a machine', params: MachineParams } }, async (req) => {
    await ms.start(req.params.app, req.params.id, nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  const stopInput = (b: { signal?: string; timeout?: string | number }) => ({
    signal: b.signal,
    timeoutMs: b.timeout === undefined ? undefined : parseDuration(b.timeout),
  });

  app.post('/v1/apps/:app/machines/:id/stop', { schema: { tags, summary: 'Stop a machine (kill_signal, then SIGKILL after kill_timeout)', params: MachineParams, body: StopBody } }, async (req) => {
    await ms.stop(req.params.app, req.params.id, stopInput(req.body ?? {}), nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  app.post('/v1/apps/:app/machines/:id/restart', { schema: { tags, summary: 'Restart a machine', params: MachineParams, body: StopBody } }, async (req) => {
    await ms.restart(req.params.app, req.params.id, stopInput(req.body ?? {}), nonceOf(req));
    return view(req.params.app, req.params.id);
  });

  for (const action of ['cordon', 'uncordon'] as const) {
    app.post(`/v1/apps/:app/machines/:id/${action}`, { schema: { tags, summary: `${action === 'cordon' ? 'Cordon' : 'Uncordon'} a machine`, params: MachineParams } }, async (req) => {
      const { app: a, id } = req.params as { app: string; id: string };
      await ms.setCordon(a, id, action === 'cordon', nonceOf(req));
      return view(a, id);
    });
  }

  app.get('/v1/apps/:app/machines/:id/wait', { schema: { tags, summary: 'Wait for a state (408 on timeout)', params: MachineParams, querystring: WaitQuery } }, async (req) => {
    const m = await ms.wait(req.params.app, req.params.id, { state: req.query.state, timeoutMs: req.query.timeout * 1000, instanceId: req.query.instance_id });
    return { ok: true, state: m.state, instance_id: m.instanceId };
  });

  app.get('/v1/apps/:app/machines/:id/events', { schema: { tags, summary: 'Machine events, newest first', params: MachineParams } }, async (req) => {
    return (await ms.events(req.params.app, req.params.id, 100)).map(eventView);
  });

  app.get('/v1/apps/:app/machines/:id/lease', { schema: { tags, summary: 'Show the lease', params: MachineParams } }, async (req, reply) => {
    await ms.get(req.params.app, req.params.id);
    const l = await deps.leases.current(req.params.id);
    if (!l) return reply.status(404).send({ error: `machine ${req.params.id} has no lease`, code: 'lease_not_found', details: [] });
    return leaseView(l);
  });

  app.post('/v1/apps/:app/machines/:id/lease', { schema: { tags, summary: 'Acquire or refresh (with the nonce header) a lease', params: MachineParams, body: LeaseBody } }, async (req, reply) => {
    await ms.get(req.params.app, req.params.id);
    const body = req.body ?? { ttl: 30 };
    const owner = (req.headers['hangar-lease-owner'] as string | undefined) ?? 'api';
    const l = await deps.leases.acquire(req.params.id, { ttlSeconds: body.ttl, description: body.description, owner, nonce: nonceOf(req) });
    return reply.status(201).send(leaseView(l));
  });

  app.delete('/v1/apps/:app/machines/:id/lease', { schema: { tags, summary: 'Release a lease (nonce header required)', params: MachineParams } }, async (req) => {
    await ms.get(req.params.app, req.params.id);
    await deps.leases.release(req.params.id, nonceOf(req));
    return { ok: true };
  });
}
