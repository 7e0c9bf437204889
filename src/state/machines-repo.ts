import type { CheckStatus, Machine, MachineEvent, MachineState, RuntimeKind } from '../core/types.js';
import type { Db } from './db.js';
import type { Selectable } from 'kysely';
import type { MachineEventsTable, MachinesTable } from './schema.js';

type MachineRow = MachinesTable & { app_name: string };

function toMachine(r: MachineRow): Machine {
  return {
    id: r.id,
    appName: r.app_name,
    name: r.name,
    state: r.state as MachineState,
    region: r.region,
    hostId: r.host_id ?? '',
    instanceId: r.instance_id,
    imageRef: JSON.parse(r.image_ref),
    config: JSON.parse(r.config),
    cordoned: r.cordoned === 1,
    runtime: r.runtime as RuntimeKind,
    port: r.port,
    restartCount: r.restart_count,
    startedAt: r.started_at,
    lastExitCode: r.last_exit_code,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toRow(m: Machine, appId: string): MachinesTable {
  return {
    id: m.id,
    app_id: appId,
    name: m.name,
    state: m.state,
    region: m.region,
    host_id: m.hostId || null,
    instance_id: m.instanceId,
    image_ref: JSON.stringify(m.imageRef),
    config: JSON.stringify(m.config),
    cordoned: m.cordoned ? 1 : 0,
    runtime: m.runtime,
    port: m.port,
    restart_count: m.restartCount,
    started_at: m.startedAt,
    last_exit_code: m.lastExitCode,
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}

function toEvent(r: Selectable<MachineEventsTable>): MachineEvent {
  return {
    id: r.id,
    machineId: r.machine_id,
    type: r.type,
    status: r.status,
    source: r.source as MachineEvent['source'],
    timestamp: Number(r.timestamp),
    ...(r.exit_code !== null ? { exitCode: r.exit_code } : {}),
    ...(r.signal !== null ? { signal: r.signal } : {}),
    ...(r.message !== null ? { message: r.message } : {}),
  };
}

export interface MachineFilter {
  appId?: string;
  hostId?: string;
  includeDestroyed?: boolean;
  states?: MachineState[];
}

/** Machines and their event history. Every state change is written here before it is acted on. */
export class MachinesRepo {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db
      .selectFrom('machines')
      .innerJoin('apps', 'apps.id', 'machines.app_id')
      .selectAll('machines')
      .select('apps.name as app_name');
  }

  async insert(m: Machine, appId: string): Promise<void> {
    await this.db.insertInto('machines').values(toRow(m, appId)).execute();
  }

  /** Writes the whole machine row (the service holds the machine's lock while it does this). */
  async save(m: Machine): Promise<void> {
    const { id, app_id: _a, created_at: _c, ...rest } = toRow(m, '');
    await this.db.updateTable('machines').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<Machine | undefined> {
    const r = await this.base().where('machines.id', '=', id).executeTakeFirst();
    return r && toMachine(r);
  }

  async list(filter: MachineFilter = {}): Promise<Machine[]> {
    let q = this.base();
    if (filter.appId) q = q.where('machines.app_id', '=', filter.appId);
    if (filter.hostId) q = q.where('machines.host_id', '=', filter.hostId);
    if (filter.states?.length) q = q.where('machines.state', 'in', filter.states);
    else if (!filter.includeDestroyed) q = q.where('machines.state', '!=', 'destroyed');
    const rows = await q.orderBy('machines.created_at').orderBy('machines.id').execute();
    return rows.map(toMachine);
  }

  /** Rows written before hosts existed belong to the host of the single node that wrote them. */
  async claimUnowned(hostId: string): Promise<number> {
    const r = await this.db.updateTable('machines').set({ host_id: hostId }).where('host_id', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Live machines per host (destroyed ones are history, not load). */
  async countByHost(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('machines')
      .select(['host_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('state', '!=', 'destroyed')
      .groupBy('host_id')
      .execute();
    return new Map(rows.filter((r) => r.host_id !== null).map((r) => [r.host_id!, Number(r.n)]));
  }

  /** Records whether an instance takes traffic, for the other nodes' proxies. */
  async saveHealth(machineId: string, instanceId: string, routable: boolean, at = Date.now()): Promise<void> {
    const row = { instance_id: instanceId, routable: routable ? 1 : 0, updated_at: at };
    await this.db
      .insertInto('machine_health')
      .values({ machine_id: machineId, ...row })
      .onConflict((oc) => oc.column('machine_id').doUpdateSet(row))
      .execute();
  }

  /** Every machine's recorded health: machine id → its instance and whether it takes traffic. */
  async health(): Promise<Map<string, { instanceId: string; routable: boolean; at: number }>> {
    const rows = await this.db.selectFrom('machine_health').selectAll().execute();
    return new Map(rows.map((r) => [r.machine_id, { instanceId: r.instance_id, routable: r.routable === 1, at: Number(r.updated_at) }]));
  }

  /** Latest check results of a machine's current instance (replaces what was stored). */
  async saveChecks(machineId: string, checks: CheckStatus[]): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('machine_checks').where('machine_id', '=', machineId).execute();
      if (checks.length === 0) return;
      await tx
        .insertInto('machine_checks')
        .values(checks.map((c) => ({ machine_id: machineId, name: c.name, status: c.status, output: c.output, updated_at: c.updatedAt })))
        .execute();
    });
  }

  /** Latest check results of every machine (or of one). */
  async checks(machineId?: string): Promise<Map<string, CheckStatus[]>> {
    let q = this.db.selectFrom('machine_checks').selectAll();
    if (machineId) q = q.where('machine_id', '=', machineId);
    const rows = await q.orderBy('name').execute();
    const out = new Map<string, CheckStatus[]>();
    for (const r of rows) {
      const list = out.get(r.machine_id) ?? [];
      list.push({ name: r.name, status: r.status as CheckStatus['status'], output: r.output, updatedAt: r.updated_at });
      out.set(r.machine_id, list);
    }
    return out;
  }

  async addEvent(e: Omit<MachineEvent, 'id'>): Promise<MachineEvent> {
    const r = await this.db
      .insertInto('machine_events')
      .values({
        machine_id: e.machineId,
        type: e.type,
        status: e.status,
        source: e.source,
        timestamp: e.timestamp,
        exit_code: e.exitCode ?? null,
        signal: e.signal ?? null,
        message: e.message ?? null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { ...e, id: Number(r.id) };
  }

  /** Newest first, as Fly lists them. */
  async events(machineId: string, limit = 50): Promise<MachineEvent[]> {
    const rows = await this.db
      .selectFrom('machine_events')
      .selectAll()
      .where('machine_id', '=', machineId)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(toEvent);
  }

  /** Recent events for many machines at once (one query for a whole listing), up to `perMachine` each. */
  async recentEvents(machineIds: string[], perMachine = 10): Promise<Map<string, MachineEvent[]>> {
    const out = new Map<string, MachineEvent[]>();
    if (machineIds.length === 0) return out;
    // Numbered per machine, so a busy machine's events never crowd out a quiet one's.
    const ranked = this.db
      .selectFrom('machine_events')
      .selectAll()
      .select((eb) => eb.fn.agg<number>('row_number').over((ob) => ob.partitionBy('machine_id').orderBy('id', 'desc')).as('rn'))
      .where('machine_id', 'in', machineIds)
      .as('ranked');
    const rows = await this.db.selectFrom(ranked).selectAll().where('rn', '<=', perMachine).orderBy('id', 'desc').execute();
    for (const r of rows) {
      const { rn: _rn, ...row } = r;
      const list = out.get(row.machine_id) ?? [];
      list.push(toEvent(row));
      out.set(row.machine_id, list);
    }
    return out;
  }

}
