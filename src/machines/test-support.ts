/**
 * Test helpers for src/machines: the machine lifecycle and services over a real ProcessDriver and a
 * real state database in a temp dir, and a driver wrapper that makes one chosen call fail (before or
 * after doing its work), as a runtime that fails half-way does. Waits are "until this happens, or fail
 * after N ms"; nothing sleeps.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Machine, MachineConfig, MachineState } from '../core/types.js';
import { ProcessDriver } from '../runtime/process/process-driver.js';
import type { InstanceRef, InstanceSpec, RuntimeDriver, StopOptions } from '../runtime/driver.js';
import { openState, type State } from '../state/index.js';
import { AppService } from './app-service.js';
import { MachineBus } from './bus.js';
import type { ImageResolver, ResolvedImage } from './images.js';
import { LeaseService } from './leases.js';
import { MachineLifecycle, refOf } from './lifecycle.js';
import { MachineService } from './machine-service.js';
import { PortAllocator } from './ports.js';

type Method = 'start' | 'stop' | 'status' | 'adopt' | 'list' | 'remove' | 'removeMachine';

interface Fault {
  err: Error;
  /** Do the real work first, then fail (the runtime did it but could not say so). */
  after: boolean;
  times: number;
}

/** Delegates to a real driver; `failNext` makes the next call(s) of one method throw. */
/** The host id the harness's machines are created on. */
export const TEST_HOST = '000000000001';

export class FaultyDriver implements RuntimeDriver {
  readonly kind = 'process' as const;
  private readonly faults = new Map<Method, Fault>();

  constructor(readonly real: ProcessDriver) {}

  failNext(method: Method, err: Error, opts: { after?: boolean; times?: number } = {}): void {
    this.faults.set(method, { err, after: opts.after ?? false, times: opts.times ?? 1 });
  }

  private async call<T>(method: Method, fn: () => Promise<T>): Promise<T> {
    const f = this.faults.get(method);
    if (!f) return fn();
    if (--f.times === 0) this.faults.delete(method);
    if (f.after) await fn();
    throw f.err;
  }

  start = (spec: InstanceSpec) => this.call('start', () => this.real.start(spec));
  stop = (ref: InstanceRef, opts: StopOptions) => this.call('stop', () => this.real.stop(ref, opts));
  status = (ref: InstanceRef) => this.call('status', () => this.real.status(ref));
  adopt = (ref: InstanceRef) => this.call('adopt', () => this.real.adopt(ref));
  list = () => this.call('list', () => this.real.list());
  remove = (ref: InstanceRef) => this.call('remove', () => this.real.remove(ref));
  removeMachine = (id: string) => this.call('removeMachine', () => this.real.removeMachine(id));
  logFiles = (id: string) => this.real.logFiles(id);
  onExit = (fn: Parameters<RuntimeDriver['onExit']>[0]) => this.real.onExit(fn);
  dispose = () => this.real.dispose();
}

/** An errno error as node raises it (`kill EPERM`). */
export function errno(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall });
}

export interface Harness {
  state: State;
  lifecycle: MachineLifecycle;
  machines: MachineService;
  apps: AppService;
  driver: FaultyDriver;
  bus: MachineBus;
  root: string;
  /** Creates (and by default starts) a machine of app `app` running `cmd`. */
  create(cmd?: string[], extra?: Partial<MachineConfig> & { skipLaunch?: boolean }): Promise<Machine>;
  get(id: string): Promise<Machine>;
  /** The pid of the instance's process group when it runs, else undefined. */
  pidOf(ref: InstanceRef): Promise<number | undefined>;
  /** A new lifecycle over the same state and runtime root, as a restarted daemon has. */
  restart(): Promise<{ lifecycle: MachineLifecycle; driver: FaultyDriver }>;
  waitForState(id: string, state: MachineState, ms?: number): Promise<Machine>;
}

export const APP = 'unit';
const IMAGE: ResolvedImage = { ref: { registry: 'hangar.local', repository: APP, tag: '1', digest: `sha256:${'0'.repeat(64)}` }, fullRef: `hangar.local/${APP}:1`, runtime: 'process' };

/** A config for `cmd`, restart policy `no`, SIGINT then SIGKILL after 2 s. */
export function config(cmd: string[], extra: Partial<MachineConfig> = {}): MachineConfig {
  return { image: IMAGE.fullRef, env: {}, init: { cmd }, services: [], checks: {}, restart: { policy: 'no' }, stop_config: { signal: 'SIGINT', timeout: '2s' }, metadata: {}, ...extra };
}

export async function harness(t: { after(fn: () => unknown): void }): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-lc-'));
  const root = join(dir, 'machines');
  const rootfs = join(dir, 'rootfs');
  mkdirSync(rootfs);
  const state = await openState(join(dir, 'state.db'));
  const images: ImageResolver = { resolve: async () => ({ ...IMAGE, rootfs }), verify: async () => ({ ...IMAGE, rootfs }) };
  const bus = new MachineBus();
  const ports = new PortAllocator();
  const log = pino({ level: 'silent' });
  const parts: Array<{ lifecycle: MachineLifecycle; driver: FaultyDriver }> = [];
  const make = () => {
    const driver = new FaultyDriver(new ProcessDriver({ root, pollIntervalMs: 20 }));
    const lifecycle = new MachineLifecycle({ state, drivers: new Map([['process', driver]]), images, bus, ports, log, timing: { backoffBaseMs: 10, backoffMaxMs: 50, stableAfterMs: 10_000 } });
    parts.push({ lifecycle, driver });
    return { lifecycle, driver };
  };
  t.after(async () => {
    const killer = new ProcessDriver({ root });
    for (const ref of await killer.list().catch(() => [])) await killer.stop(ref, { signal: 'SIGKILL', timeoutMs: 1000 }).catch(() => undefined);
    for (const p of parts) {
      p.lifecycle.dispose();
      await p.driver.dispose();
    }
    await killer.dispose();
    await state.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const first = make();
  const leases = new LeaseService(state);
  const machines = new MachineService({ state, lifecycle: first.lifecycle, images, leases, bus, host: { hostId: TEST_HOST, region: 'local' } });
  const apps = new AppService({ state, machines });
  await apps.create(APP);
  const h: Harness = {
    state,
    lifecycle: first.lifecycle,
    machines,
    apps,
    driver: first.driver,
    bus,
    root,
    create: (cmd = ['sleep', '30'], extra = {}) => {
      const { skipLaunch, ...rest } = extra;
      return machines.create(APP, { config: config(cmd, rest), skipLaunch });
    },
    get: async (id) => (await state.machines.get(id))!,
    pidOf: async (ref) => {
      const st = await first.driver.real.status(ref);
      return st.state === 'running' ? st.pid : undefined;
    },
    restart: async () => {
      first.lifecycle.dispose();
      await first.driver.dispose();
      return make();
    },
    waitForState: (id, want, ms = 10_000) => waitForState(bus, state, id, want, ms),
  };
  return h;
}

function waitForState(bus: MachineBus, state: State, id: string, want: MachineState, ms: number): Promise<Machine> {
  return new Promise((resolve, reject) => {
    const done = (fn: () => void) => {
      clearTimeout(timer);
      off();
      fn();
    };
    const timer = setTimeout(() => done(() => reject(new Error(`machine ${id} did not reach ${want} within ${ms} ms`))), ms);
    const off = bus.onMachine((m) => {
      if (m.id === id && m.state === want) done(() => resolve(m));
    });
    void state.machines.get(id).then((m) => {
      if (m?.state === want) done(() => resolve(m));
    });
  });
}

/** True while a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export { refOf };
