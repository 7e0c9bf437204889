import { PreconditionError, UserError } from '../core/errors.js';
import type { Host, Machine, RuntimeKind } from '../core/types.js';
import type { HostStatus } from './host-registry.js';

export interface PlacementRequest {
  app: string;
  /** The machine's process group: a group is spread across hosts first. */
  group: string;
  /** Required unless pinned (a pinned machine goes to its host's region). */
  region?: string;
  runtime: RuntimeKind;
  /** A host name or id the machine must go to (`--host`). */
  pin?: string;
}

/**
 * Chooses the host for a new machine: a ready host of the region with the runtime it needs, the one
 * with the fewest machines of the app's group (spread first), then the least loaded; a pinned host
 * if asked. No such host is a clear error naming the regions that have ready hosts.
 */
export function place(hosts: HostStatus[], appMachines: Machine[], req: PlacementRequest): Host {
  if (req.pin) return pinned(hosts, req);
  const region = req.region ?? '';
  const fit = hosts.filter((h) => h.state === 'ready' && h.region === region && h.runtimes.includes(req.runtime));
  if (fit.length === 0) throw noHost(hosts, req);
  const inGroup = (h: Host) => appMachines.filter((m) => m.hostId === h.id && m.appName === req.app && (m.config.metadata.fly_process_group ?? 'app') === req.group).length;
  return [...fit].sort((a, b) => inGroup(a) - inGroup(b) || a.machines - b.machines || a.name.localeCompare(b.name))[0]!;
}

function pinned(hosts: HostStatus[], req: PlacementRequest): Host {
  const h = hosts.find((x) => x.name === req.pin || x.id === req.pin);
  if (!h) throw new UserError({ code: 'host_not_found', kind: 'not_found', message: `host ${JSON.stringify(req.pin)} not found`, hint: 'list hosts with: hangar hosts list' });
  if (h.state !== 'ready') throw new PreconditionError('host_not_ready', `host ${h.name} is ${h.state}: no new machines go there`, h.state === 'draining' ? `place it elsewhere, or: hangar hosts undrain ${h.name}` : 'start its node again, or pick another host');
  if (!h.runtimes.includes(req.runtime)) throw new PreconditionError('host_lacks_runtime', `host ${h.name} cannot run ${req.runtime} machines (it has: ${h.runtimes.join(', ')})`, 'pick a host with that runtime');
  if (req.region !== undefined && h.region !== req.region) throw new UserError({ code: 'host_region_mismatch', message: `host ${h.name} is in region ${h.region}, not ${req.region}`, hint: `ask for region ${h.region}, or pick a host of ${req.region}` });
  return h;
}

function noHost(hosts: HostStatus[], req: PlacementRequest): UserError {
  const ready = hosts.filter((h) => h.state === 'ready' && h.runtimes.includes(req.runtime));
  const regions = [...new Set(ready.map((h) => h.region))].sort();
  const inRegion = hosts.filter((h) => h.region === req.region);
  const wanted = req.region ?? '';
  const why = inRegion.length === 0 ? 'no host' : `no ready host with the ${req.runtime} runtime (${inRegion.map((h) => `${h.name}: ${h.state}`).join(', ')})`;
  return new PreconditionError(
    'no_host_in_region',
    `cannot place a machine in region ${wanted}: ${why}; regions with ready hosts: ${regions.join(', ') || 'none'}`,
    regions.length ? `pick one of those regions (--region ${regions[0]}), or start a node with --region ${wanted}` : 'start a hangar node (hangar server) on a host of that region',
  );
}
