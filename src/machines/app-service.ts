import { ulid } from 'ulid';
import { ConflictError, NotFoundError, PreconditionError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { State } from '../state/index.js';
import type { MachineService } from './machine-service.js';

export interface AppSummary {
  app: App;
  machineCount: number;
}

/** Apps: create, list, show, destroy (destroying an app destroys its machines first). */
export class AppService {
  constructor(private readonly deps: { state: State; machines: MachineService }) {}

  async create(name: string): Promise<App> {
    if (await this.deps.state.apps.byName(name)) {
      throw new ConflictError('app_exists', `app ${name} already exists`, 'pick another name, or use the existing app with -a ' + name);
    }
    const app: App = { id: ulid().toLowerCase(), name, createdAt: new Date().toISOString() };
    try {
      await this.deps.state.apps.insert(app);
    } catch (err) {
      if (/UNIQUE/i.test((err as Error).message)) throw new ConflictError('app_exists', `app ${name} already exists`);
      throw err;
    }
    return app;
  }

  async list(): Promise<AppSummary[]> {
    const [apps, counts] = await Promise.all([this.deps.state.apps.list(), this.deps.state.apps.machineCounts()]);
    return apps.map((app) => ({ app, machineCount: counts.get(app.id) ?? 0 }));
  }

  async get(name: string): Promise<AppSummary> {
    const app = await this.deps.state.apps.byName(name);
    if (!app) throw new NotFoundError('app', name, 'list apps with: hangar apps list');
    const counts = await this.deps.state.apps.machineCounts();
    return { app, machineCount: counts.get(app.id) ?? 0 };
  }

  /** Destroys every machine of the app (force), then the app. Without `force`, refuses while machines run. */
  async destroy(name: string, force: boolean): Promise<void> {
    const { app } = await this.get(name);
    const machines = await this.deps.machines.list(name);
    const live = machines.filter((m) => m.state !== 'stopped' && m.state !== 'created' && m.state !== 'failed');
    if (live.length > 0 && !force) {
      throw new PreconditionError('app_has_running_machines', `app ${name} has ${live.length} running machine(s)`, 'stop them first, or pass --yes (API: ?force=true)');
    }
    for (const m of machines) await this.deps.machines.destroy(name, m.id, true, undefined, { ignoreLease: true });
    await this.deps.state.apps.delete(app.id);
  }
}
