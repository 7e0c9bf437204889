import type { Selectable } from 'kysely';
import type { Release, ReleaseStatus, StrategyName } from '../core/deploy.js';
import type { Db } from './db.js';
import type { ReleasesTable } from './schema.js';

function toRelease(r: Selectable<ReleasesTable> & { app_name: string }): Release {
  return {
    appName: r.app_name,
    version: r.version,
    status: r.status as ReleaseStatus,
    imageRef: r.image_ref,
    strategy: r.strategy as StrategyName,
    config: JSON.parse(r.config),
    user: r.user,
    description: r.description,
    stable: r.stable === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Releases: a monotonic version per app, with the image and config each deploy shipped. */
export class ReleasesRepo {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db.selectFrom('releases').innerJoin('apps', 'apps.id', 'releases.app_id').selectAll('releases').select('apps.name as app_name');
  }

  /** Inserts the next version atomically (max + 1 in one transaction). */
  async create(appId: string, r: Omit<Release, 'version' | 'appName'>): Promise<number> {
    return this.db.transaction().execute(async (tx) => {
      // Take the app's row lock first, so concurrent creates for one app queue here: under PostgreSQL's
      // read committed, two transactions would otherwise read the same max and the second insert would
      // fail on the primary key. The no-op update is the one row lock both dialects accept.
      await tx.updateTable('apps').set((eb) => ({ routing: eb.ref('routing') })).where('id', '=', appId).execute();
      const row = await tx.selectFrom('releases').select((eb) => eb.fn.max('version').as('v')).where('app_id', '=', appId).executeTakeFirst();
      const version = Number(row?.v ?? 0) + 1;
      await tx
        .insertInto('releases')
        .values({
          app_id: appId,
          version,
          status: r.status,
          image_ref: r.imageRef,
          strategy: r.strategy,
          config: JSON.stringify(r.config),
          user: r.user,
          description: r.description,
          stable: r.stable ? 1 : 0,
          created_at: r.createdAt,
          updated_at: r.updatedAt,
        })
        .execute();
      return version;
    });
  }

  async setStatus(appId: string, version: number, status: ReleaseStatus, stable: boolean): Promise<void> {
    await this.db.updateTable('releases').set({ status, stable: stable ? 1 : 0, updated_at: new Date().toISOString() }).where('app_id', '=', appId).where('version', '=', version).execute();
  }

  async get(appId: string, version: number): Promise<Release | undefined> {
    const r = await this.base().where('releases.app_id', '=', appId).where('releases.version', '=', version).executeTakeFirst();
    return r && toRelease(r);
  }

  /** Newest first. */
  async list(appId: string): Promise<Release[]> {
    const rows = await this.base().where('releases.app_id', '=', appId).orderBy('releases.version', 'desc').execute();
    return rows.map(toRelease);
  }
}
