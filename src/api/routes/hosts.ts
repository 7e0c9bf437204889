import type { HostStatus } from '../../cluster/host-registry.js';
import { DrainHostQuery, DrainView, HostListView, HostParams, HostView, RemoveHostQuery } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';
import type { MachineHostView } from '../views.js';

/** What the host routes need of the cluster's host registry. */
export interface HostsApi {
  list(): Promise<HostStatus[]>;
  setDraining(ref: string, draining: boolean): Promise<HostStatus>;
  remove(ref: string, force: boolean): Promise<HostStatus>;
  /** Drains the host and moves its machines to other hosts of its region, one at a time, health-gated. */
  migrate(ref: string): Promise<{ host: HostStatus; migrated: Array<{ machine: string; replacement: string; host: string }> }>;
  /** A machine's host as its JSON shows it (from the last heartbeat's listing; no query). */
  machineHost(hostId: string): MachineHostView;
}

export function hostView(h: HostStatus): HostView {
  return {
    id: h.id,
    name: h.name,
    region: h.region,
    address: h.address,
    state: h.state,
    machines: h.machines,
    cpus: h.cpus,
    memory_mb: h.memoryMb,
    runtimes: h.runtimes,
    api_port: h.apiPort,
    proxy_port: h.proxyPort,
    version: h.version,
    last_seen: new Date(Date.now() - h.seenAgoMs).toISOString(),
    started_at: h.startedAt,
  };
}

/** The cluster's hosts: listing, draining (no new placements) and removal. */
export function hostRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['hosts'];
  app.get('/v1/hosts', { schema: route({ tags, summary: 'List the hosts of the cluster with their state and machine count', ok: { 200: HostListView } }) }, async () => (await deps.hosts.list()).map(hostView));
  app.post('/v1/hosts/:host/drain', {
    schema: route({
      tags,
      summary: 'Stop placing new machines on a host; with migrate=true, also move its machines to the other hosts of its region, one at a time, health-gated',
      params: HostParams,
      querystring: DrainHostQuery,
      ok: { 200: DrainView },
      errors: { 404: 'no such host (host_not_found)', 409: 'a machine is leased by a deploy (lease_held)', 412: 'migrate: the host is down, or its region has no other ready host (no_host_in_region)', 503: "a machine's host does not answer" },
    }),
  }, async (req) => {
    if (req.query.migrate === 'true') {
      const r = await deps.hosts.migrate(req.params.host);
      return { host: hostView(r.host), migrated: r.migrated };
    }
    return { host: hostView(await deps.hosts.setDraining(req.params.host, true)), migrated: [] };
  });
  app.post('/v1/hosts/:host/undrain', { schema: route({ tags, summary: 'Place new machines on a drained host again', params: HostParams, ok: { 200: HostView }, errors: { 404: 'no such host (host_not_found)' } }) }, async (req) =>
    hostView(await deps.hosts.setDraining(req.params.host, false)),
  );
  app.delete('/v1/hosts/:host', {
    schema: route({
      tags,
      summary: 'Remove a host from the cluster',
      params: HostParams,
      querystring: RemoveHostQuery,
      ok: { 200: HostView },
      errors: { 404: 'no such host (host_not_found)', 412: 'its node is still running (host_alive) or it still has machines (host_has_machines); force=true removes it anyway, writing its machines off as destroyed' },
    }),
  }, async (req) => hostView(await deps.hosts.remove(req.params.host, req.query.force === 'true')));
}
