import type { App } from '../core/types.js';
import type { Db } from './db.js';
import type { Selectable } from 'kysely';
import type { AppRouting } from '../core/types.js';
import type { AppsTable } from './schema.js';

function toApp(r: Selectable<AppsTable>): App {
  return { id: r.id, name: r.name, createdAt: r.created_at, routing: JSON.parse(r.routing) as AppRouting };
}

/** Apps: the unit that owns machines, images and (later) releases. */
export class AppsRepo {
  constructor(private readonly db: Db) {}

  async insert(app: App): Promise<void> {
    await this.db.insertInto('apps').values({ id: app.id, name: app.name, created_at: app.createdAt, routing: JSON.stringify(app.routing) }).execute();
  }

  async setRouting(id: string, routing: AppRouting): Promise<void> {
    await this.db.updateTable('apps').set({ routing: JSON.stringify(routing) }).where('id', '=', id).execute();
  }

  async byName(name: string): Promise<App | undefined> {
    const r = await this.db.selectFrom('apps').selectAll().where('name', '=', name).executeTakeFirst();
    return r && toApp(r);
  }

  async list(): Promise<App[]> {
    const rows = await this.db.selectFrom('apps').selectAll().orderBy('name').execute();
    return rows.map(toApp);
  }

  async machineCounts(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('machines')
      .select(['app_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('state', '!=', 'destroyed')
      .groupBy('app_id')
      .execute();
    return new Map(rows.map((r) => [r.app_id, Number(r.n)]));
  }

  async delete(id: string): Promise<void> {
    await this.db.deleteFrom('apps').where('id', '=', id).execute();
  }
}
