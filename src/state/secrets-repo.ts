import type { Selectable } from 'kysely';
import type { Db } from './db.js';
import type { SecretsTable } from './schema.js';

/** A secret as stored: the value only sealed (see src/secrets/crypto.ts), with its digest and key id. */
export interface StoredSecret {
  name: string;
  sealed: string;
  digest: string;
  keyId: string;
  createdAt: string;
  updatedAt: string;
}

function toSecret(r: Selectable<SecretsTable>): StoredSecret {
  return { name: r.name, sealed: r.sealed, digest: r.digest, keyId: r.key_id, createdAt: r.created_at, updatedAt: r.updated_at };
}

/** Secrets: per app, by name. Deleting an app deletes its secrets (foreign key cascade). */
export class SecretsRepo {
  constructor(private readonly db: Db) {}

  /** By name. */
  async list(appId: string): Promise<StoredSecret[]> {
    const rows = await this.db.selectFrom('secrets').selectAll().where('app_id', '=', appId).orderBy('name').execute();
    return rows.map(toSecret);
  }

  /** The ids of the keys the stored values are sealed with (empty when there are no secrets). */
  async keyIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('secrets').select('key_id').distinct().execute();
    return rows.map((r) => r.key_id);
  }

  /** Writes and deletes in one transaction, so a change is stored whole or not at all. */
  async apply(appId: string, change: { upsert: StoredSecret[]; remove: string[] }): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      if (change.remove.length > 0) await tx.deleteFrom('secrets').where('app_id', '=', appId).where('name', 'in', change.remove).execute();
      for (const s of change.upsert) {
        await tx
          .insertInto('secrets')
          .values({ app_id: appId, name: s.name, sealed: s.sealed, digest: s.digest, key_id: s.keyId, created_at: s.createdAt, updated_at: s.updatedAt })
          .onConflict((oc) => oc.columns(['app_id', 'name']).doUpdateSet({ sealed: s.sealed, digest: s.digest, key_id: s.keyId, updated_at: s.updatedAt }))
          .execute();
      }
    });
  }
}
