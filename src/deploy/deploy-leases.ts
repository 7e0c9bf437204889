import type { Logger } from 'pino';
import type { Deployment } from '../core/deploy.js';
import type { Machine } from '../core/types.js';
import type { LeaseService } from '../machines/leases.js';

const LEASE_TTL_S = 30;
/** How often a running deploy renews the leases on its machines (well inside their TTL). */
export const LEASE_REFRESH_MS = 10_000;

/**
 * The leases a deploy holds on its machines (one deploy, or one user's change, per machine at a time),
 * with the nonces its machine operations carry.
 */
export class DeployLeases {
  private readonly nonces = new Map<string, string>();
  private readonly owners = new Map<string, string>();

  constructor(private readonly deps: { leases: LeaseService; log: Logger }) {}

  /** The nonce of the lease this node holds on a machine, if any. */
  nonce(machineId: string): string | undefined {
    return this.nonces.get(machineId);
  }

  /** Takes every machine's lease for the deploy, or none: one that cannot be taken releases the others. */
  async take(deploymentId: string, machines: Machine[], owner: string): Promise<void> {
    const taken: string[] = [];
    this.owners.set(deploymentId, owner);
    try {
      for (const m of machines) {
        const l = await this.deps.leases.acquire(m.id, { ttlSeconds: LEASE_TTL_S, owner, description: 'deploy' });
        this.nonces.set(m.id, l.nonce);
        taken.push(m.id);
      }
    } catch (err) {
      for (const id of taken) await this.deps.leases.release(id, this.nonces.get(id)).catch(() => undefined);
      throw err;
    }
  }

  async refresh(d: Deployment): Promise<void> {
    for (const p of d.machines) {
      const nonce = this.nonces.get(p.machineId);
      if (!nonce) continue;
      await this.deps.leases
        .acquire(p.machineId, { ttlSeconds: LEASE_TTL_S, owner: this.owners.get(d.id) ?? `deployment ${d.id}`, nonce })
        // A lease that lapses lets someone else change the machine mid-deploy: worth a line in the log.
        .catch((err) => this.deps.log.warn({ err, deployment: d.id, machine: p.machineId }, 'could not refresh the deploy lease on a machine'));
    }
  }

  async release(d: Deployment): Promise<void> {
    for (const p of d.machines) {
      await this.deps.leases
        .release(p.machineId, this.nonces.get(p.machineId))
        .catch((err) => this.deps.log.warn({ err, deployment: d.id, machine: p.machineId }, 'could not release the deploy lease on a machine; it expires by itself'));
      this.nonces.delete(p.machineId);
    }
    this.owners.delete(d.id);
  }
}
