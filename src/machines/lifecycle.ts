import type { Logger } from 'pino';
import { isUserError, RuntimeFailure, UserError } from '../core/errors.js';
import { decideRestart } from '../core/restart.js';
import { isMachineSignal, type MachineSignal } from '../core/signals.js';
import type { Machine, MachineEvent, MachineState, RuntimeKind } from '../core/types.js';
import { isLiveState } from '../core/types.js';
import type { InstanceExit, InstanceRef, InstanceStatus, RuntimeDriver, StopOptions } from '../runtime/driver.js';
import type { State } from '../state/index.js';
import type { MachineBus } from './bus.js';
import { machineEnv, publishedPort } from './env.js';
import type { ImageResolver } from './images.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { PortAllocator } from './ports.js';
import { parseDuration } from '../core/duration.js';
import { requireSignal } from './signals.js';

export interface LifecycleTiming {
  /** First restart delay; doubles per consecutive failure. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** An instance that ran this long resets the failure count. */
  stableAfterMs: number;
}

export const DEFAULT_TIMING: LifecycleTiming = { backoffBaseMs: 1000, backoffMaxMs: 30_000, stableAfterMs: 10_000 };

/** Takes an instance out of traffic and waits (up to `timeoutMs`) for what it is serving to finish. */
export interface InstanceDrainer {
  drain(ref: InstanceRef, timeoutMs: number): Promise<void>;
}

export interface LifecycleDeps {
  state: State;
  drivers: ReadonlyMap<RuntimeKind, RuntimeDriver>;
  images: ImageResolver;
  bus: MachineBus;
  ports: PortAllocator;
  log: Logger;
  timing: LifecycleTiming;
  /** The proxy, once it exists: stops route to an instance only after it drained. */
  drainer?: InstanceDrainer;
  /** The app's secrets, injected into every instance's env at start (decrypted only here). */
  secrets?: SecretsProvider;
  /** Told after a stop that ended an instance: which signal it was sent, and whether SIGKILL followed. */
  onSignal?: (m: Machine, sent: SignalSent) => void;
}

/** A signal the lifecycle sent to an instance; `escalated`: it outlived `timeoutMs`, so it got SIGKILL. */
export interface SignalSent {
  instanceId: string;
  signal: string;
  /** When the signal was sent (ms since the epoch). */
  at: number;
  timeoutMs: number;
  escalated: boolean;
}

/** Where a machine's secrets come from; `onStart` learns which version of them an instance got. */
export interface SecretsProvider {
  forApp(appName: string): Promise<{ values: Record<string, string>; digest: string }>;
}

type EventInput = Omit<MachineEvent, 'id' | 'machineId' | 'timestamp'>;

export const refOf = (m: Machine): InstanceRef => ({ machineId: m.id, instanceId: m.instanceId });

/**
 * Owns machine instances: starting, stopping, replacing, destroying, and what happens when an instance
 * exits on its own (Fly's restart policy). Each machine's operations run under its own lock, and every
 * state change is persisted (and announced on the bus) before the runtime is asked to act. When the
 * runtime then fails half-way, the machine is not left in the state that was in progress: the runtime
 * is asked what the instance really does, and that is stored (see `recover`), so the next operation
 * starts from the truth.
 */
export class MachineLifecycle {
  private readonly mutex = new KeyedMutex();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly unsubscribe: Array<() => void> = [];
  private stopped = false;

  constructor(readonly deps: LifecycleDeps) {
    for (const d of deps.drivers.values()) this.unsubscribe.push(d.onExit((e) => void this.onExit(e)));
  }

  driver(kind: RuntimeKind): RuntimeDriver {
    const d = this.deps.drivers.get(kind);
    if (!d) throw new UserError({ code: 'runtime_unavailable', kind: 'unavailable', message: `the ${kind} runtime is not available on this daemon` });
    return d;
  }

  /** Runs `fn` with the machine's lock held, on the freshest stored copy. */
  locked<T>(machineId: string, fn: (m: Machine) => Promise<T>): Promise<T> {
    return this.mutex.run(machineId, async () => {
      const m = await this.deps.state.machines.get(machineId);
      if (!m) throw new UserError({ code: 'machine_not_found', kind: 'not_found', message: `machine ${machineId} not found` });
      return fn(m);
    });
  }

  async save(m: Machine, patch: Partial<Machine>, event?: EventInput): Promise<Machine> {
    const next: Machine = { ...m, ...patch, updatedAt: new Date().toISOString() };
    await this.deps.state.machines.save(next);
    if (event) {
      const ev = await this.deps.state.machines.addEvent({ ...event, machineId: m.id, timestamp: Date.now() });
      this.deps.bus.emitEvent(ev, next);
    }
    this.deps.bus.emitMachine(next);
    return next;
  }

  /**
   * Starts the machine's current instance; one that already runs (left by a stop that failed, or a
   * daemon that died mid-start) is adopted, never started twice. Lock held by the caller.
   */
  async startInstance(m: Machine, source: MachineEvent['source']): Promise<Machine> {
    this.cancelRestart(m.id);
    const before = m.state;
    m = await this.save(m, { state: 'starting' }, { type: 'start', status: 'starting', source });
    const adopted = await this.adoptRunning(m, source);
    if (adopted) return adopted;
    let port: number | undefined;
    try {
      const img = await this.deps.images.verify(m.imageRef, m.runtime);
      const cmd = m.config.init.cmd ?? [];
      const secrets = await this.secretsFor(m.appName);
      port = await this.deps.ports.allocate();
      await this.driver(m.runtime).start({
        ...refOf(m),
        appName: m.appName,
        image: { ref: img.fullRef, digest: img.ref.digest, rootfs: img.rootfs },
        cmd,
        env: machineEnv(m, port, secrets.values),
        port,
        publish: publishedPort(m),
      });
      if (m.port !== port) this.deps.ports.release(m.port);
      return await this.save(m, { state: 'started', port, startedAt: new Date().toISOString(), config: withSecretsDigest(m.config, secrets.digest) }, { type: 'start', status: 'started', source });
    } catch (err) {
      if ((err as { code?: string }).code === 'docker_unavailable') {
        this.deps.ports.release(port);
        return this.startDeferred(m, before, source, err as Error);
      }
      throw await this.recover(m, err, { op: 'start', source, gone: 'failed', unknown: 'failed', port: port ?? m.port });
    }
  }

  /** The machine's current instance, when it already runs: followed again and the machine marked `started`. */
  private async adoptRunning(m: Machine, source: MachineEvent['source']): Promise<Machine | undefined> {
    const st = await this.observe(m);
    if (st?.state !== 'running') return undefined;
    await this.driver(m.runtime).adopt(refOf(m));
    if (m.port) this.deps.ports.claim(m.port);
    const startedAt = m.startedAt ?? new Date(st.startedAt).toISOString();
    return this.save(m, { state: 'started', startedAt }, { type: 'start', status: 'started', source, message: 'the instance was already running; adopted' });
  }

  /** What the runtime says of an instance (the machine's current one by default); undefined when it cannot be asked. */
  async observe(m: Machine, ref: InstanceRef = refOf(m)): Promise<InstanceStatus | undefined> {
    try {
      return await this.driver(m.runtime).status(ref);
    } catch (err) {
      this.deps.log.debug({ err, machine: m.id, instance: ref.instanceId }, 'could not ask the runtime about an instance');
      return undefined;
    }
  }

  /**
   * A runtime call failed half-way through `op`, with the machine stored as in progress. Stores the
   * state the instance is really in — running: `started` (on `port`, the machine's own by default);
   * not running: `gone`; the runtime does not answer: `unknown` — records the failure as an event, and
   * returns the error to throw: the caller's own mistake (a UserError) as it is, anything else as a
   * RuntimeFailure with the runtime's error as its cause.
   */
  async recover(m: Machine, err: unknown, o: { op: string; source: MachineEvent['source']; gone: MachineState; unknown: MachineState; port?: number | null }): Promise<Error> {
    const port = o.port === undefined ? m.port : o.port;
    const st = await this.observe(m);
    const reason = err instanceof Error ? err.message : String(err);
    let patch: Partial<Machine>;
    let now: string;
    if (st?.state === 'running') {
      await this.driver(m.runtime).adopt(refOf(m)).catch(() => undefined);
      if (port) this.deps.ports.claim(port);
      patch = { state: 'started', port, startedAt: m.startedAt ?? new Date(st.startedAt).toISOString() };
      now = 'the instance is still running';
    } else if (st) {
      this.deps.ports.release(port);
      patch = { state: o.gone };
      now = 'the instance is not running';
    } else {
      patch = { state: o.unknown };
      now = 'the runtime could not say whether the instance runs';
    }
    this.deps.log.warn({ err, machine: m.id, op: o.op, state: patch.state }, 'machine operation failed half-way; state set to what the runtime reports');
    await this.save(m, patch, { type: o.op, status: 'failed', source: o.source, message: `${o.op} failed: ${reason}; ${now}` });
    return isUserError(err) ? err : new RuntimeFailure(`${o.op} of machine ${m.id} failed: ${reason}`, err);
  }

  /**
   * The runtime's engine did not answer: that says nothing about the machine, so it does not become
   * `failed`. A restart hangar itself scheduled is tried again later; a start someone asked for leaves
   * the machine as it was and reports the outage.
   */
  private async startDeferred(m: Machine, before: Machine['state'], source: MachineEvent['source'], err: Error): Promise<Machine> {
    if (source === 'hangar') {
      const next = await this.save(m, { state: 'starting' }, { type: 'start', status: 'waiting', source, message: `${err.message}; trying again in ${this.deps.timing.backoffMaxMs} ms` });
      this.scheduleRestart(next, this.deps.timing.backoffMaxMs);
      return next;
    }
    await this.save(m, { state: before === 'starting' || before === 'replacing' ? 'stopped' : before }, { type: 'start', status: 'failed', source, message: err.message });
    throw err;
  }

  /**
   * Stops the current instance (kill_signal, then SIGKILL after kill_timeout). The signal is checked
   * before anything is persisted; a stop the runtime fails half-way leaves the machine as its instance
   * really is (still running: `started`). Lock held by the caller.
   */
  async stopInstance(m: Machine, opts: { signal?: string; timeoutMs?: number; source: MachineEvent['source'] }): Promise<Machine> {
    const stop = this.stopOptions(m, opts);
    const hadRestartPending = this.cancelRestart(m.id);
    // A machine stored as not running is asked about too: a stop must leave nothing running.
    if (!isLiveState(m.state) && !hadRestartPending && (await this.observe(m))?.state !== 'running') return m;
    const before = m.state;
    m = await this.save(m, { state: 'stopping' }, { type: 'stop', status: 'stopping', source: opts.source });
    let exit: InstanceExit | undefined;
    try {
      exit = await this.drainAndStop(m, refOf(m), stop);
    } catch (err) {
      throw await this.recover(m, err, { op: 'stop', source: opts.source, gone: 'stopped', unknown: before });
    }
    this.deps.ports.release(m.port);
    return this.save(
      m,
      { state: 'stopped', lastExitCode: exit?.exitCode ?? m.lastExitCode },
      { type: 'exit', status: 'stopped', source: opts.source, ...exitFields(exit) },
    );
  }

  /** The signal and timeout of a stop: the caller's (checked), else the machine's stop_config. */
  stopOptions(m: Machine, opts: { signal?: string; timeoutMs?: number }): StopOptions {
    const signal = opts.signal !== undefined ? requireSignal(opts.signal, 'signal') : this.configSignal(m);
    const timeoutMs = opts.timeoutMs ?? parseDuration(m.config.stop_config.timeout) ?? 5000;
    return { signal, timeoutMs };
  }

  /**
   * Configs are checked when they are stored; one stored before that may name a signal no machine can
   * be sent. Hangar's own stops (updates, recovery) cannot ask anyone, so they use SIGTERM and say so.
   */
  private configSignal(m: Machine): MachineSignal {
    const s = m.config.stop_config.signal ?? 'SIGINT';
    if (isMachineSignal(s)) return s;
    this.deps.log.warn({ machine: m.id, signal: s }, 'stop_config.signal is not a signal a machine can be sent; stopping with SIGTERM');
    return 'SIGTERM';
  }

  /**
   * In-flight requests get up to the stop timeout to finish before the instance is signalled; then the
   * signal, and SIGKILL after the same timeout.
   */
  async drainAndStop(m: Machine, ref: InstanceRef, opts: StopOptions): Promise<InstanceExit | undefined> {
    if (opts.signal !== 'SIGKILL') await this.deps.drainer?.drain(ref, opts.timeoutMs);
    const at = Date.now();
    const exit = await this.driver(m.runtime).stop(ref, opts);
    // The driver escalates to SIGKILL on its own; outliving the timeout is how we learn it did.
    if (exit) this.deps.onSignal?.(m, { instanceId: ref.instanceId, signal: opts.signal, at, timeoutMs: opts.timeoutMs, escalated: opts.signal !== 'SIGKILL' && Date.now() - at >= opts.timeoutMs });
    return exit;
  }

  async secretsFor(app: string): Promise<{ values: Record<string, string>; digest: string }> {
    return this.deps.secrets ? this.deps.secrets.forApp(app) : { values: {}, digest: '' };
  }

  /** Resolves when the machine's current instance exits. */
  exitOf(m: Machine): Promise<InstanceExit> {
    const driver = this.driver(m.runtime);
    return new Promise((resolve) => {
      const off = driver.onExit((e) => {
        if (e.machineId === m.id && e.instanceId === m.instanceId) {
          off();
          resolve(e);
        }
      });
    });
  }

  /** After a machine moved to another runtime: what the old runtime kept for it goes. */
  async leaveRuntime(m: Machine, next: Machine['runtime']): Promise<void> {
    if (next === m.runtime) return;
    await this.driver(m.runtime)
      .removeMachine(m.id)
      .catch((err) => this.deps.log.warn({ err, machine: m.id }, `could not clean up the ${m.runtime} runtime's files of a machine now on ${next}`));
  }

  /** Stops and removes an instance that is no longer the machine's current one. */
  async retireInstance(m: Machine, ref: InstanceRef): Promise<void> {
    await this.drainAndStop(m, ref, this.stopOptions(m, {}));
    await this.driver(m.runtime).remove(ref);
  }

  private async onExit(e: InstanceExit): Promise<void> {
    if (e.requested || this.stopped) return;
    await this.mutex
      .run(e.machineId, async () => {
        const m = await this.deps.state.machines.get(e.machineId);
        if (!m || m.instanceId !== e.instanceId || (m.state !== 'started' && m.state !== 'starting')) return;
        await this.handleExit(m, e);
      })
      .catch((err) => this.deps.log.error({ err, machine: e.machineId }, 'handling a machine exit failed'));
  }

  /** Applies the restart policy to an exit nobody asked for. Lock held by the caller. */
  async handleExit(m: Machine, e: Pick<InstanceExit, 'exitCode' | 'signal' | 'at'>): Promise<Machine> {
    this.deps.ports.release(m.port);
    const ranMs = m.startedAt ? e.at - Date.parse(m.startedAt) : 0;
    const decision = decideRestart({
      policy: m.config.restart.policy,
      maxRetries: m.config.restart.max_retries ?? 10,
      exitCode: e.exitCode,
      failures: m.restartCount,
      ranMs,
      ...this.deps.timing,
    });
    const exitEv = { type: 'exit', source: 'hangar' as const, ...exitFields(e) };
    switch (decision.action) {
      case 'stop':
        return this.save(m, { state: 'stopped', lastExitCode: e.exitCode, restartCount: 0 }, { ...exitEv, status: 'stopped' });
      case 'fail':
        return this.save(
          m,
          { state: 'failed', lastExitCode: e.exitCode, restartCount: decision.failures },
          { ...exitEv, status: 'failed', message: `crash loop: exited ${decision.failures} times in a row; restart policy gives up` },
        );
      case 'restart': {
        const next = await this.save(
          m,
          { state: 'starting', lastExitCode: e.exitCode, restartCount: decision.failures },
          { ...exitEv, status: 'restarting', message: `restarting in ${decision.delayMs} ms (attempt ${decision.failures})` },
        );
        this.scheduleRestart(next, decision.delayMs);
        return next;
      }
    }
  }

  private scheduleRestart(m: Machine, delayMs: number): void {
    this.cancelRestart(m.id);
    const timer = setTimeout(() => {
      this.restartTimers.delete(m.id);
      void this.mutex
        .run(m.id, async () => {
          const cur = await this.deps.state.machines.get(m.id);
          if (!cur || cur.state !== 'starting' || cur.instanceId !== m.instanceId) return;
          await this.startInstance(cur, 'hangar');
        })
        .catch((err) => this.deps.log.warn({ err, machine: m.id }, 'restart failed'));
    }, delayMs);
    this.restartTimers.set(m.id, timer);
  }

  /** True if a restart was pending (the machine is in backoff, with no live instance). */
  cancelRestart(machineId: string): boolean {
    const t = this.restartTimers.get(machineId);
    if (!t) return false;
    clearTimeout(t);
    this.restartTimers.delete(machineId);
    return true;
  }

  hasPendingRestart(machineId: string): boolean {
    return this.restartTimers.has(machineId);
  }

  /** Stops reacting to exits and pending restarts; instances keep running for the next daemon. */
  dispose(): void {
    this.stopped = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    for (const u of this.unsubscribe) u();
  }
}

export function exitFields(e: Pick<InstanceExit, 'exitCode' | 'signal'> | undefined): Partial<EventInput> {
  if (!e) return {};
  return { ...(e.exitCode !== null ? { exitCode: e.exitCode } : {}), ...(e.signal ? { signal: e.signal } : {}) };
}

/** Records which version of the app's secrets an instance started with (metadata, no values). */
export function withSecretsDigest(config: Machine['config'], digest: string): Machine['config'] {
  const { hangar_secrets_digest: _old, ...metadata } = config.metadata;
  return { ...config, metadata: digest ? { ...metadata, hangar_secrets_digest: digest } : metadata };
}
