import type { Logger } from 'pino';
import { PreconditionError } from '../core/errors.js';
import type { Machine } from '../core/types.js';
import type { WaitOptions } from '../health/readiness.js';
import type { HostRegistry, HostStatus } from './host-registry.js';
import type { ClusterMachines } from './machines.js';

/** One machine moved off a drained host: the old one and its replacement. */
export interface Migrated {
  machine: string;
  replacement: string;
  host: string;
}

/**
 * Moves a drained host's machines to the other hosts of its region, one at a time and health-gated:
 * the replacement is created (placed like any new machine: the drained host takes none), and only
 * once it passes its checks does the old one leave rotation, drain its requests and go. A stopped
 * machine gets a stopped replacement.
 */
export class HostMigration {
  constructor(private readonly deps: { hosts: HostRegistry; machines: ClusterMachines; log: Logger; wait: WaitOptions }) {}

  async migrate(ref: string): Promise<{ host: HostStatus; migrated: Migrated[] }> {
    const host = await this.deps.hosts.setDraining(ref, true);
    if (host.state === 'down') throw new PreconditionError('host_down', `host ${host.name} is down: its machines cannot be replaced one by one`, `start its node again, or clone them elsewhere: hangar machines clone ID --region ${host.region}`);
    const others = (await this.deps.hosts.list()).filter((h) => h.id !== host.id && h.state === 'ready' && h.region === host.region);
    if (others.length === 0) throw new PreconditionError('no_host_in_region', `host ${host.name} is the only ready host of region ${host.region}: its machines have nowhere to go`, `start a node with --region ${host.region} first`);
    const all = await this.deps.machines.onHost(host.id);
    const migrated: Migrated[] = [];
    for (const m of all) migrated.push(await this.move(m));
    return { host: await this.deps.hosts.find(host.id), migrated };
  }

  private async move(m: Machine): Promise<Migrated> {
    const { machines, log } = this.deps;
    const running = m.state === 'started' || m.state === 'starting' || m.state === 'replacing';
    const next = await machines.create(m.appName, { region: m.region, config: m.config, skipLaunch: !running });
    if (running) await machines.waitHealthy(await machines.get(m.appName, next.id), this.deps.wait);
    // Out of rotation first (every proxy hears of it), then stopped (draining what is in flight), then gone.
    await machines.setCordon(m.appName, m.id, true);
    if (running) await machines.stop(m.appName, m.id, {});
    await machines.destroy(m.appName, m.id, true);
    const placed = this.deps.hosts.cached(next.hostId)?.name ?? next.hostId;
    log.info({ app: m.appName, machine: m.id, replacement: next.id, host: placed }, 'machine moved off a drained host');
    return { machine: m.id, replacement: next.id, host: placed };
  }
}
