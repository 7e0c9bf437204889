import { ConflictError, NotFoundError, PreconditionError, UserError } from '../core/errors.js';
import { newInstanceId, newMachineId, newMachineName } from '../core/ids.js';
import type { App, Machine, MachineConfig, MachineEvent, MachineState, RuntimeKind } from '../core/types.js';
import { isLiveState } from '../core/types.js';
import type { State } from '../state/index.js';
import type { MachineBus } from './bus.js';
import type { ImageResolver } from './images.js';
import type { LeaseService } from './leases.js';
import { destroyMachine } from './destroy.js';
import type { MachineLifecycle } from './lifecycle.js';
import { retireForUpdate, surgeReplace, type SurgeReady } from './replace.js';
import { requireSignal } from './signals.js';
import type { WaitOptions } from '../health/readiness.js';

export interface CreateMachineInput {
  name?: string;
  region?: string;
  config: MachineConfig;
  skipLaunch?: boolean;
}

export interface UpdateMachineInput {
  region?: string;
  config: MachineConfig;
  skipLaunch?: boolean;
}

export interface StopInput {
  signal?: string;
  timeoutMs?: number;
}

export interface ListFilter {
  state?: MachineState[];
  region?: string;
  includeDestroyed?: boolean;
}

/** The host this node runs machines on: new machines are created here, in its region unless asked otherwise. */
export interface LocalHost {
  hostId: string;
  region: string;
}

/**
 * The machine operations the API exposes (Fly's Machines API): validation, leases and lookups here;
 * the instance work itself is the lifecycle's.
 */
export class MachineService {
  constructor(
    private readonly deps: { state: State; lifecycle: MachineLifecycle; images: ImageResolver; leases: LeaseService; bus: MachineBus; host: LocalHost },
  ) {}

  async app(name: string): Promise<App> {
    const app = await this.deps.state.apps.byName(name);
    if (!app) throw new NotFoundError('app', name, 'list apps with: hangar apps list');
    return app;
  }

  async create(appName: string, input: CreateMachineInput): Promise<Machine> {
    const app = await this.app(appName);
    checkConfig(input.config);
    const image = await this.deps.images.resolve(appName, input.config.image);
    requireCommand(input.config, image.runtime);
    const name = input.name ?? newMachineName();
    const existing = await this.deps.state.machines.list({ appId: app.id });
    if (existing.some((m) => m.name === name)) throw new ConflictError('machine_name_taken', `app ${appName} already has a machine named ${name}`, 'pick another --name');
    const now = new Date().toISOString();
    const m: Machine = {
      id: newMachineId(),
      appName,
      name,
      state: 'created',
      region: input.region ?? this.deps.host.region,
      hostId: this.deps.host.hostId,
      instanceId: newInstanceId(),
      imageRef: image.ref,
      config: { ...input.config, image: image.fullRef },
      cordoned: false,
      runtime: image.runtime,
      port: null,
      restartCount: 0,
      startedAt: null,
      lastExitCode: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.deps.state.machines.insert(m, app.id);
    const ev = await this.deps.state.machines.addEvent({ machineId: m.id, type: 'launch', status: 'created', source: 'user', timestamp: Date.now() });
    this.deps.bus.emitEvent(ev, m);
    if (input.skipLaunch) return m;
    return this.deps.lifecycle.locked(m.id, (cur) => this.deps.lifecycle.startInstance(cur, 'user'));
  }

  async list(appName: string, filter: ListFilter = {}): Promise<Machine[]> {
    const app = await this.app(appName);
    const all = await this.deps.state.machines.list({ appId: app.id, states: filter.state, includeDestroyed: filter.includeDestroyed });
    return filter.region ? all.filter((m) => m.region === filter.region) : all;
  }

  async get(appName: string, id: string): Promise<Machine> {
    const m = await this.deps.state.machines.get(id);
    if (!m || m.appName !== appName) {
      // The app missing is the more useful 404 of the two.
      await this.app(appName);
      throw new NotFoundError('machine', id, `list machines with: hangar machines list -a ${appName}`);
    }
    return m;
  }

  async events(appName: string, id: string, limit?: number): Promise<MachineEvent[]> {
    await this.get(appName, id);
    return this.deps.state.machines.events(id, limit);
  }

  /** Recent events of many machines at once (for listings). */
  recentEvents(ids: string[]): Promise<Map<string, MachineEvent[]>> {
    return this.deps.state.machines.recentEvents(ids, 10);
  }

  async start(appName: string, id: string, nonce?: string): Promise<Machine> {
    return this.mutate(appName, id, nonce, async (m) => {
      switch (m.state) {
        case 'destroyed':
        case 'destroying':
          throw new PreconditionError('machine_destroyed', `machine ${id} is ${m.state} and cannot be started`, 'create a new machine with: hangar machines run');
        case 'started':
          return m;
        case 'starting':
        case 'replacing':
          // In backoff, a restart is on its way; otherwise (under the lock nothing else is starting it)
          // the state is left from an operation that did not finish, and a start settles it.
          if (this.deps.lifecycle.hasPendingRestart(m.id)) return m;
          return this.deps.lifecycle.startInstance(m, 'user');
        default:
          return this.deps.lifecycle.startInstance({ ...m, restartCount: 0 }, 'user');
      }
    });
  }

  async stop(appName: string, id: string, input: StopInput, nonce?: string): Promise<Machine> {
    checkStopInput(input);
    return this.mutate(appName, id, nonce, async (m) => {
      if (m.state === 'destroyed') throw new PreconditionError('machine_destroyed', `machine ${id} is destroyed`);
      return this.deps.lifecycle.stopInstance(m, { ...input, source: 'user' });
    });
  }

  async restart(appName: string, id: string, input: StopInput, nonce?: string): Promise<Machine> {
    checkStopInput(input);
    return this.mutate(appName, id, nonce, async (m) => {
      if (m.state === 'destroyed') throw new PreconditionError('machine_destroyed', `machine ${id} is destroyed and cannot be restarted`);
      const stopped = await this.deps.lifecycle.stopInstance(m, { ...input, source: 'user' });
      return this.deps.lifecycle.startInstance({ ...stopped, restartCount: 0 }, 'user');
    });
  }

  /**
   * Replaces the machine's config and image. The machine is looked up before the new config is checked
   * and its image resolved (a 404 before a 400). The new instance id is stored before anything is
   * stopped, so a daemon that dies halfway finds the old instance unowned (stopped) and the new one to
   * start; an old instance that will not stop undoes the update (see retireForUpdate).
   */
  async update(appName: string, id: string, input: UpdateMachineInput, nonce?: string): Promise<Machine> {
    await this.get(appName, id);
    const image = await this.checkedImage(appName, input.config);
    return this.mutate(appName, id, nonce, async (m) => {
      if (m.state === 'destroyed' || m.state === 'destroying') throw new PreconditionError('machine_destroyed', `machine ${id} is ${m.state} and cannot be updated`);
      const lc = this.deps.lifecycle;
      const wasLive = isLiveState(m.state) || lc.hasPendingRestart(m.id);
      const next = await lc.save(
        m,
        {
          config: { ...input.config, image: image.fullRef },
          imageRef: image.ref,
          runtime: image.runtime,
          region: input.region ?? m.region,
          instanceId: newInstanceId(),
          restartCount: 0,
          state: wasLive ? 'replacing' : m.state === 'failed' ? 'stopped' : m.state,
        },
        { type: 'update', status: wasLive ? 'replacing' : 'updated', source: 'user' },
      );
      lc.cancelRestart(m.id);
      if (wasLive) await retireForUpdate(lc, m, next);
      await lc.leaveRuntime(m, image.runtime);
      if (!wasLive || input.skipLaunch) return wasLive ? lc.save(next, { state: 'stopped' }) : next;
      return lc.startInstance(next, 'user');
    });
  }

  /**
   * Rolling update of a started machine: new instance next to the old, switched to only once `ready`
   * resolves (see surgeReplace). A machine that is not running is updated in place without being
   * started.
   */
  async surgeUpdate(appName: string, id: string, input: UpdateMachineInput, nonce: string | undefined, ready: SurgeReady, _wait?: WaitOptions, onSwitched?: () => void): Promise<Machine> {
    const m0 = await this.get(appName, id);
    const image = await this.checkedImage(appName, input.config);
    if (m0.state !== 'started') return this.update(appName, id, input, nonce);
    return this.mutate(appName, id, nonce, async (m) => {
      if (m.state !== 'started') throw new PreconditionError('machine_not_started', `machine ${id} changed state to ${m.state} during the update`);
      return surgeReplace(this.deps.lifecycle, m, { config: { ...input.config, image: image.fullRef }, imageRef: image.ref, runtime: image.runtime }, ready, onSwitched);
    });
  }

  /** A config checked as a whole, then its image resolved (the command a process image needs included). */
  private async checkedImage(appName: string, config: MachineConfig) {
    checkConfig(config);
    const image = await this.deps.images.resolve(appName, config.image);
    requireCommand(config, image.runtime);
    return image;
  }

  /** With `force`, whatever runs is killed; without, a running machine is refused (see destroyMachine). */
  async destroy(appName: string, id: string, force: boolean, nonce?: string, opts: { ignoreLease?: boolean } = {}): Promise<Machine> {
    return this.mutate(appName, id, opts.ignoreLease ? null : nonce, (m) => destroyMachine(this.deps.lifecycle, m, { force, source: 'user' }));
  }

  async setCordon(appName: string, id: string, cordoned: boolean, nonce?: string): Promise<Machine> {
    return this.mutate(appName, id, nonce, async (m) => {
      if (m.cordoned === cordoned) return m;
      return this.deps.lifecycle.save(m, { cordoned }, { type: cordoned ? 'cordon' : 'uncordon', status: m.state, source: 'user' });
    });
  }

  /** Resolves when the machine reaches `state` (and `instanceId`, if given); a 408 after `timeoutMs`. */
  async wait(appName: string, id: string, opts: { state: MachineState; timeoutMs: number; instanceId?: string }): Promise<Machine> {
    const matches = (m: Machine) => m.state === opts.state && (!opts.instanceId || m.instanceId === opts.instanceId);
    return new Promise<Machine>((resolve, reject) => {
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        off();
        fn();
      };
      const off = this.deps.bus.onMachine((m) => {
        if (m.id === id && matches(m)) finish(() => resolve(m));
      });
      const timer = setTimeout(
        () => finish(() => reject(new UserError({ code: 'wait_timeout', kind: 'timeout', message: `machine ${id} did not reach ${opts.state} within ${opts.timeoutMs} ms` }))),
        opts.timeoutMs,
      );
      this.get(appName, id).then(
        (m) => {
          if (matches(m)) finish(() => resolve(m));
        },
        (err) => finish(() => reject(err)),
      );
    });
  }

  /** `nonce: null` skips the lease check (an app being destroyed takes its machines with it). */
  private async mutate(appName: string, id: string, nonce: string | undefined | null, fn: (m: Machine) => Promise<Machine>): Promise<Machine> {
    await this.get(appName, id);
    if (nonce !== null) await this.deps.leases.check(id, nonce);
    return this.deps.lifecycle.locked(id, fn);
  }
}

/** What a machine config holds beyond its schema: a stop signal a machine can really be sent. */
function checkConfig(config: MachineConfig): void {
  if (config.stop_config?.signal !== undefined) requireSignal(config.stop_config.signal, 'config.stop_config.signal');
}

function checkStopInput(input: StopInput): void {
  if (input.signal !== undefined) requireSignal(input.signal, 'signal');
}

/** A process needs a command; a container may run its image's own CMD/ENTRYPOINT. */
function requireCommand(config: MachineConfig, runtime: RuntimeKind): void {
  if (runtime === 'docker') return;
  if (!config.init.cmd || config.init.cmd.length === 0) {
    throw new UserError({
      code: 'no_command',
      message: 'machine config has no command to run (config.init.cmd is empty)',
      hint: 'give the process group a command in [processes], or pass one: hangar machines run DIR -- CMD',
      details: [{ path: 'config.init.cmd', message: 'required for the process runtime' }],
    });
  }
}
