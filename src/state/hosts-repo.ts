import type { Selectable } from 'kysely';
import type { Host, RuntimeKind } from '../core/types.js';
import type { Db } from './db.js';
import type { HostsTable } from './schema.js';

function toHost(r: Selectable<HostsTable>): Host {
  return {
    id: r.id,
    name: r.name,
    region: r.region,
    address: r.address,
    apiPort: r.api_port,
    proxyPort: r.proxy_port,
    cpus: r.cpus,
    memoryMb: r.memory_mb,
    runtimes: JSON.parse(r.runtimes) as RuntimeKind[],
    draining: r.draining === 1,
    version: r.version,
    heartbeat: Number(r.heartbeat),
    lastSeenAt: Number(r.last_seen_at),
    startedAt: r.started_at,
    createdAt: r.created_at,
  };
}

/** The cluster's hosts, one row per node's host, and the settings all nodes share. */
export class HostsRepo {
  constructor(private readonly db: Db) {}

  async list(): Promise<Host[]> {
    return (await this.db.selectFrom('hosts').selectAll().orderBy('region').orderBy('name').execute()).map(toHost);
  }

  async get(id: string): Promise<Host | undefined> {
    const r = await this.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toHost(r);
  }

  async byName(name: string): Promise<Host | undefined> {
    const r = await this.db.selectFrom('hosts').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toHost(r);
  }

  /** Inserts the host or rewrites what its node announces at start (name, address, resources). */
  async upsert(h: Host): Promise<void> {
    const row = {
      name: h.name,
      region: h.region,
      address: h.address,
      api_port: h.apiPort,
      proxy_port: h.proxyPort,
      cpus: h.cpus,
      memory_mb: h.memoryMb,
      runtimes: JSON.stringify(h.runtimes),
      version: h.version,
      last_seen_at: h.lastSeenAt,
      started_at: h.startedAt,
    };
    await this.db
      .insertInto('hosts')
      .values({ id: h.id, ...row, draining: h.draining ? 1 : 0, heartbeat: h.heartbeat, created_at: h.createdAt })
      .onConflict((oc) => oc.column('id').doUpdateSet(row))
      .execute();
  }

  /** One heartbeat: the counter moves and the time is recorded. False when the row is gone (removed). */
  async beat(id: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('hosts')
      .set((eb) => ({ heartbeat: eb('heartbeat', '+', 1), last_seen_at: at }))
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async setDraining(id: string, draining: boolean): Promise<void> {
    await this.db.updateTable('hosts').set({ draining: draining ? 1 : 0 }).where('id', '=', id).execute();
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('hosts').where('id', '=', id).execute();
  }

  /** Removes the host and marks its live machines destroyed, in one transaction. */
  async deleteWritingOffMachines(id: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.updateTable('machines').set({ state: 'destroyed', port: null, updated_at: new Date().toISOString() }).where('host_id', '=', id).where('state', '!=', 'destroyed').execute();
      await tx.deleteFrom('hosts').where('id', '=', id).execute();
    });
  }

  async setting(name: string): Promise<string | undefined> {
    return (await this.db.selectFrom('cluster_settings').select('value').where('name', '=', name).executeTakeFirst())?.value;
  }

  /** Stores `value` unless the setting exists, and returns what is stored: the first node's value wins. */
  async settingOr(name: string, value: string): Promise<string> {
    await this.db.insertInto('cluster_settings').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute();
    return (await this.setting(name))!;
  }
}
