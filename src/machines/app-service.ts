import { ulid } from 'ulid';
import { ConflictError, NotFoundError, PreconditionError, UserError } from '../core/errors.js';
import { ValidationError, type ErrorDetail } from '../core/errors.js';
import type { App, AppRouting } from '../core/types.js';
import type { State } from '../state/index.js';
import type { MachineOps } from './ops.js';

export interface AppSummary {
  app: App;
  machineCount: number;
}

/**
 * What a routing change needs from the proxy: the ports the daemon itself listens on, and the app's
 * dedicated ports opened now (so a port that cannot be opened is refused, not just logged later).
 */
export interface DedicatedPorts {
  /** The daemon's own ports, each with what listens there. */
  reserved(): Map<number, string>;
  /** Opens the ports the app does not hold yet; the ones that could not be opened, and why. */
  open(app: string, ports: number[], tlsPorts: number[]): Promise<Array<{ port: number; reason: 'in_use' | 'privileged' | 'unavailable'; message: string }>>;
}

/** Apps: create, list, show, destroy (destroying an app destroys its machines first). */
export class AppService {
  constructor(private readonly deps: { state: State; machines: MachineOps; onRouting?: (app: string, routing: AppRouting) => void; ports?: DedicatedPorts }) {}

  /**
   * Merges `patch` into the app's routing (keys given replace; `null` clears) after checking it as a
   * whole, stores it, then hands it to the proxy. Stored first, so a restarted daemon restores the same
   * split instead of a half-shifted one.
   */
  async setRouting(name: string, patch: { [K in keyof AppRouting]?: AppRouting[K] | null }): Promise<AppRouting> {
    const { app } = await this.get(name);
    const next: AppRouting = { ...app.routing };
    for (const [k, v] of Object.entries(patch) as Array<[keyof AppRouting, unknown]>) {
      if (v === null) delete next[k];
      else if (v !== undefined) (next as Record<string, unknown>)[k] = v;
    }
    checkRouting(next);
    if (patch.ports || patch.tlsPorts) await this.checkPorts(app, next.ports ?? [], next.tlsPorts ?? []);
    try {
      await this.deps.state.apps.setRouting(app.id, next);
    } catch (err) {
      // Ports opened for a change that was not stored close again.
      if (patch.ports || patch.tlsPorts) this.deps.onRouting?.(name, app.routing);
      throw err;
    }
    this.deps.onRouting?.(name, next);
    return next;
  }

  /**
   * Refuses dedicated ports the proxy cannot serve the app on: the daemon's own (409), another app's
   * (409), one in use on the host (409), one that needs privileges the daemon lacks (400). The others
   * are open when this returns.
   */
  private async checkPorts(app: App, ports: number[], tlsPorts: number[]): Promise<void> {
    const repeated = ports.flatMap((port, i) => (ports.indexOf(port) !== i ? [{ path: `ports[${i}]`, message: 'repeats an earlier port', value: port }] : []));
    if (repeated.length) throw inconsistent(repeated);
    const reserved = this.deps.ports?.reserved() ?? new Map<number, string>();
    const others = (await this.deps.state.apps.list()).filter((a) => a.id !== app.id);
    const taken: ErrorDetail[] = [];
    ports.forEach((port, i) => {
      const own = reserved.get(port);
      const other = others.find((a) => a.routing.ports?.includes(port));
      if (own) taken.push({ path: `ports[${i}]`, message: `is ${own}'s port`, value: port });
      else if (other) taken.push({ path: `ports[${i}]`, message: `is app ${other.name}'s dedicated port`, value: port });
    });
    if (taken.length === 0 && this.deps.ports) {
      const refused = await this.deps.ports.open(app.name, ports, tlsPorts);
      const at = (port: number) => `ports[${ports.indexOf(port)}]`;
      const privileged = refused.filter((r) => r.reason === 'privileged').map((r) => ({ path: at(r.port), message: 'needs privileges the daemon does not have (ports below 1024 need root)', value: r.port }));
      if (privileged.length) throw new ValidationError(`invalid routing: ${describe(privileged)}`, privileged, 'pick a port of 1024 or above');
      taken.push(...refused.map((r) => ({ path: at(r.port), message: r.message, value: r.port })));
    }
    if (taken.length) {
      throw new UserError({ code: 'port_in_use', kind: 'conflict', message: `cannot serve app ${app.name} there: ${describe(taken)}`, hint: 'pick free ports (ss -ltn shows the ones in use)', details: taken });
    }
  }

  async create(name: string): Promise<App> {
    if (await this.deps.state.apps.byName(name)) {
      throw new ConflictError('app_exists', `app ${name} already exists`, 'pick another name, or use the existing app with -a ' + name);
    }
    const app: App = { id: ulid().toLowerCase(), name, createdAt: new Date().toISOString(), routing: {} };
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

  /**
   * Destroys every machine of the app (force), then the app. Without `force`, refuses while machines
   * run. A machine that cannot be destroyed now (its runtime does not answer) does not stop the others;
   * the app stays, and its first such error is thrown, so the same call can be made again.
   */
  async destroy(name: string, force: boolean): Promise<void> {
    const { app } = await this.get(name);
    const machines = await this.deps.machines.list(name);
    const live = machines.filter((m) => m.state !== 'stopped' && m.state !== 'created' && m.state !== 'failed');
    if (live.length > 0 && !force) {
      throw new PreconditionError('app_has_running_machines', `app ${name} has ${live.length} running machine(s)`, 'stop them first, or pass --yes (API: ?force=true)');
    }
    const failures: unknown[] = [];
    for (const m of machines) await this.deps.machines.destroy(name, m.id, true, undefined, { ignoreLease: true }).catch((err: unknown) => failures.push(err));
    if (failures.length > 0) throw failures[0];
    await this.deps.state.apps.delete(app.id);
  }
}

function describe(problems: ErrorDetail[]): string {
  return problems.map((p) => `${p.path}: ${p.message}`).join('; ');
}

function checkRouting(r: AppRouting): void {
  const problems: ErrorDetail[] = [];

  const names = new Set<string>();
  (r.sets ?? []).forEach((set, i) => {
    if (names.has(set.name)) problems.push({ path: `sets[${i}].name`, message: 'duplicate set name', value: set.name });
    names.add(set.name);
  });
  if (r.sets && r.sets.length > 0 && r.sets.every((s) => s.weight === 0) && !(r.pins ?? []).length) {
    problems.push({ path: 'sets', message: 'every set has weight 0: no request could be served' });
  }
  (r.pins ?? []).forEach((p, i) => {
    if (!names.has(p.set)) problems.push({ path: `pins[${i}].set`, message: 'names no set in sets', value: p.set });
    if (!p.header && !p.cookie) problems.push({ path: `pins[${i}]`, message: 'needs a header or a cookie' });
  });
  (r.tlsPorts ?? []).forEach((port, i) => {
    if (!(r.ports ?? []).includes(port)) problems.push({ path: `tls_ports[${i}]`, message: 'is not one of the dedicated ports (ports)', value: port });
  });
  if (problems.length) throw inconsistent(problems);
}

/**
 * A routing whose parts contradict each other (every field well-formed on its own): its own code, since
 * no schema of a single field can say it.
 */
function inconsistent(problems: ErrorDetail[]): UserError {
  return new UserError({ code: 'routing_inconsistent', kind: 'invalid', message: `invalid routing: ${describe(problems)}`, details: problems });
}
