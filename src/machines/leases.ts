import { randomBytes } from 'node:crypto';
import { ConflictError, UserError } from '../core/errors.js';
import type { Lease } from '../core/types.js';
import type { State } from '../state/index.js';

export interface AcquireLease {
  ttlSeconds: number;
  owner: string;
  description?: string;
  /** When given and matching the current lease, the lease is refreshed instead of conflicting. */
  nonce?: string;
}

/**
 * Fly's machine leases: whoever holds a live lease must send its nonce with every mutating call on the
 * machine; everyone else gets a 409 naming the holder and the expiry. Expired leases count as absent, so
 * a lease held by a process that died frees itself.
 */
export class LeaseService {
  constructor(
    private readonly state: State,
    private readonly now: () => number = Date.now,
  ) {}

  async current(machineId: string): Promise<Lease | undefined> {
    const l = await this.state.leases.get(machineId);
    return l && l.expiresAt > this.now() ? l : undefined;
  }

  async acquire(machineId: string, req: AcquireLease): Promise<Lease> {
    if (!(req.ttlSeconds > 0 && req.ttlSeconds <= 3600)) {
      throw new UserError({ code: 'invalid_input', message: 'lease ttl must be between 1 and 3600 seconds', details: [{ path: 'ttl', message: 'out of range', value: req.ttlSeconds }] });
    }
    const cur = await this.current(machineId);
    // The same owner (a deploy resumed by a restarted daemon) takes its own lease back.
    if (cur && cur.nonce !== req.nonce && cur.owner !== req.owner) throw held(cur);
    const lease: Lease = {
      machineId,
      nonce: cur?.nonce ?? randomBytes(12).toString('hex'),
      owner: req.owner,
      description: req.description ?? cur?.description ?? '',
      expiresAt: this.now() + req.ttlSeconds * 1000,
    };
    await this.state.leases.put(lease);
    return lease;
  }

  async release(machineId: string, nonce: string | undefined): Promise<void> {
    const cur = await this.current(machineId);
    if (!cur) return;
    if (cur.nonce !== nonce) throw held(cur);
    await this.state.leases.delete(machineId);
  }

  /** Throws the 409 unless the machine is unleased or `nonce` is the live lease's. */
  async check(machineId: string, nonce: string | undefined): Promise<void> {
    const cur = await this.current(machineId);
    if (cur && cur.nonce !== nonce) throw held(cur);
  }
}

function held(l: Lease): ConflictError {
  return new ConflictError(
    'lease_held',
    `machine ${l.machineId}: lease currently held by ${l.owner}${l.description ? ` (${l.description})` : ''}, expires at ${new Date(l.expiresAt).toISOString()}`,
    'wait for it to expire, or pass its nonce in the fly-machine-lease-nonce header',
  );
}
