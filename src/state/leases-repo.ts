import type { Lease } from '../core/types.js';
import type { Db } from './db.js';

/** Machine leases (Fly's): at most one per machine; expired rows are treated as absent. */
export class LeasesRepo {
  constructor(private readonly db: Db) {}

  async get(machineId: string): Promise<Lease | undefined> {
    const r = await this.db.selectFrom('leases').selectAll().where('machine_id', '=', machineId).executeTakeFirst();
    if (!r) return undefined;
    return { machineId: r.machine_id, nonce: r.nonce, owner: r.owner, description: r.description, expiresAt: Number(r.expires_at) };
  }

  async put(l: Lease): Promise<void> {
    await this.db
      .insertInto('leases')
      .values({ machine_id: l.machineId, nonce: l.nonce, owner: l.owner, description: l.description, expires_at: l.expiresAt })
      .onConflict((oc) =>
        oc.column('machine_id').doUpdateSet({ nonce: l.nonce, owner: l.owner, description: l.description, expires_at: l.expiresAt }),
      )
      .execute();
  }

  async delete(machineId: string): Promise<void> {
    await this.db.deleteFrom('leases').where('machine_id', '=', machineId).execute();
  }
}
