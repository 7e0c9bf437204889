import type { Selectable } from 'kysely';
import type { DeployEvent, Deployment, DeploymentPhase, ReleaseStatus, StoredDeployEvent } from '../core/deploy.js';
import type { Db } from './db.js';
import type { DeploymentsTable } from './schema.js';

function toDeployment(r: Selectable<DeploymentsTable> & { app_name: string }): Deployment {
  return {
    id: r.id,
    appName: r.app_name,
    releaseVersion: r.release_version,
    status: r.status as ReleaseStatus,
    phase: r.phase as DeploymentPhase,
    options: JSON.parse(r.options),
    machines: JSON.parse(r.machines),
    ...(r.error ? { error: r.error } : {}),
    extra: JSON.parse(r.extra),
    paused: r.paused === 1,
    ...(r.runner ? { runner: r.runner } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Deployments and their ordered event log (replayed to anyone who attaches later). */
export class DeploymentsRepo {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db.selectFrom('deployments').innerJoin('apps', 'apps.id', 'deployments.app_id').selectAll('deployments').select('apps.name as app_name');
  }

  async insert(appId: string, d: Deployment): Promise<void> {
    await this.db
      .insertInto('deployments')
      .values({
        id: d.id,
        app_id: appId,
        release_version: d.releaseVersion,
        status: d.status,
        phase: d.phase,
        options: JSON.stringify(d.options),
        machines: JSON.stringify(d.machines),
        error: d.error ?? null,
        extra: JSON.stringify(d.extra ?? {}),
        paused: d.paused ? 1 : 0,
        created_at: d.createdAt,
        updated_at: d.updatedAt,
      })
      .execute();
  }

  async save(d: Deployment): Promise<void> {
    await this.db
      .updateTable('deployments')
      .set({ status: d.status, phase: d.phase, machines: JSON.stringify(d.machines), error: d.error ?? null, extra: JSON.stringify(d.extra ?? {}), paused: d.paused ? 1 : 0, updated_at: d.updatedAt })
      .where('id', '=', d.id)
      .execute();
  }

  /**
   * Makes `host` the node that runs the deploy until `until` (ms), if nobody else holds it now: a free
   * claim, its own, or one that lapsed. One statement, so two nodes can never both win it.
   */
  async claimRunner(id: string, host: string, until: number, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('deployments')
      .set({ runner: host, runner_until: until })
      .where('id', '=', id)
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('runner', 'is', null), eb('runner', '=', host), eb('runner_until', '<', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Running deploys whose runner's claim lapsed before `now` (its node stopped renewing it). */
  async orphaned(now: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('deployments')
      .select('id')
      .where('status', '=', 'running')
      .where((eb) => eb.or([eb('runner_until', 'is', null), eb('runner_until', '<', now)]))
      .execute();
    return rows.map((r) => r.id);
  }

  async get(id: string): Promise<Deployment | undefined> {
    const r = await this.base().where('deployments.id', '=', id).executeTakeFirst();
    return r && toDeployment(r);
  }

  async list(appId?: string, status?: ReleaseStatus): Promise<Deployment[]> {
    let q = this.base();
    if (appId) q = q.where('deployments.app_id', '=', appId);
    if (status) q = q.where('deployments.status', '=', status);
    return (await q.orderBy('deployments.created_at', 'desc').execute()).map(toDeployment);
  }

  async addEvent(id: string, seq: number, event: DeployEvent): Promise<StoredDeployEvent> {
    const at = new Date().toISOString();
    await this.db.insertInto('deployment_events').values({ deployment_id: id, seq, at, event: JSON.stringify(event) }).execute();
    return { seq, at, event };
  }

  async events(id: string, afterSeq = 0): Promise<StoredDeployEvent[]> {
    const rows = await this.db.selectFrom('deployment_events').selectAll().where('deployment_id', '=', id).where('seq', '>', afterSeq).orderBy('seq').execute();
    return rows.map((r) => ({ seq: r.seq, at: r.at, event: JSON.parse(r.event) as DeployEvent }));
  }

  async lastSeq(id: string): Promise<number> {
    const r = await this.db.selectFrom('deployment_events').select((eb) => eb.fn.max('seq').as('s')).where('deployment_id', '=', id).executeTakeFirst();
    return Number(r?.s ?? 0);
  }
}
