import { UserError } from '../core/errors.js';
import type { Host, Machine, MachineState } from '../core/types.js';
import type { WaitOptions } from '../health/readiness.js';
import type { ImageResolver } from '../machines/images.js';
import type { CreateMachineInput, MachineService, StopInput, UpdateMachineInput } from '../machines/machine-service.js';
import type { SurgeReady } from '../machines/replace.js';
import type { State } from '../state/index.js';
import type { HostRegistry } from './host-registry.js';
import { INTERNAL_ROUTES } from './internal-paths.js';
import type { NodeClient } from './node-client.js';
import { place } from './placement.js';

/** An operation on a machine, as one node asks the node of the machine's host to carry it out. */
export type RemoteOp =
  | { op: 'create'; app: string; input: CreateMachineInput }
  | { op: 'start'; app: string; id: string; nonce?: string }
  | { op: 'stop' | 'restart'; app: string; id: string; input: StopInput; nonce?: string }
  | { op: 'update'; app: string; id: string; input: UpdateMachineInput; nonce?: string }
  | { op: 'surgeUpdate'; app: string; id: string; input: UpdateMachineInput; nonce?: string; wait: WaitOptions }
  | { op: 'destroy'; app: string; id: string; force: boolean; nonce?: string; ignoreLease?: boolean }
  | { op: 'cordon'; app: string; id: string; cordoned: boolean; nonce?: string }
  | { op: 'wait'; app: string; id: string; opts: { state: MachineState; timeoutMs: number; instanceId?: string } }
  | { op: 'waitHealthy'; app: string; id: string; wait: WaitOptions };

/** What the owner's side needs to carry out a waited operation itself. */
export interface LocalReadiness {
  waitReady: (m: Machine, ref: { machineId: string; instanceId: string }, port: number, exited: Promise<{ exitCode: number | null; signal: string | null }>, o: WaitOptions) => Promise<void>;
  waitHealthy: (m: Machine, o: WaitOptions) => Promise<void>;
}

/**
 * The one place that decides where a machine operation runs: on this node when the machine is on
 * this host, else on the node of its host, over the internal API, with the same answer. New machines
 * are placed here too (see placement.ts). Everything that operates on machines (the API, deploys,
 * autostop) goes through this; only the owner's node touches the machine's runtime.
 */
export class ClusterMachines {
  constructor(
    private readonly deps: {
      local: MachineService;
      state: State;
      hosts: HostRegistry;
      images: ImageResolver;
      node?: NodeClient;
      readiness: LocalReadiness;
    },
  ) {}

  /** Whether this node carries out operations on `m`. */
  isLocal(m: Pick<Machine, 'hostId'>): boolean {
    return m.hostId === this.deps.hosts.host.id;
  }

  app(name: string) {
    return this.deps.local.app(name);
  }

  list(...a: Parameters<MachineService['list']>) {
    return this.deps.local.list(...a);
  }

  get(app: string, id: string) {
    return this.deps.local.get(app, id);
  }

  events(...a: Parameters<MachineService['events']>) {
    return this.deps.local.events(...a);
  }

  /** The live machines of a host, of every app. */
  onHost(hostId: string): Promise<Machine[]> {
    return this.deps.state.machines.list({ hostId });
  }

  recentEvents(ids: string[]) {
    return this.deps.local.recentEvents(ids);
  }

  /** Places the machine (region, runtime, spread, `--host`) and creates it on its host's node. */
  async create(app: string, input: CreateMachineInput & { host?: string }): Promise<Machine> {
    const hosts = await this.deps.hosts.list();
    if (hosts.length <= 1 && !input.host) return this.deps.local.create(app, input);
    await this.deps.local.app(app);
    const image = await this.deps.images.resolve(app, input.config.image);
    // The app's own machines (for the spread) and each host's machine count (HostStatus.machines, for the load).
    const live = await this.deps.local.list(app);
    const host = place(hosts, live, {
      app,
      group: input.config.metadata.fly_process_group ?? 'app',
      region: input.region ?? (input.host ? undefined : this.deps.hosts.host.region),
      runtime: image.runtime,
      pin: input.host,
    });
    const { host: _pin, ...rest } = input;
    const region = input.region ?? host.region;
    if (host.id === this.deps.hosts.host.id) return this.deps.local.create(app, { ...rest, region });
    return this.remote(host, { op: 'create', app, input: { ...rest, region } });
  }

  start(app: string, id: string, nonce?: string) {
    return this.on(app, id, (l) => l.start(app, id, nonce), { op: 'start', app, id, nonce });
  }

  stop(app: string, id: string, input: StopInput, nonce?: string) {
    return this.on(app, id, (l) => l.stop(app, id, input, nonce), { op: 'stop', app, id, input, nonce });
  }

  restart(app: string, id: string, input: StopInput, nonce?: string) {
    return this.on(app, id, (l) => l.restart(app, id, input, nonce), { op: 'restart', app, id, input, nonce });
  }

  update(app: string, id: string, input: UpdateMachineInput, nonce?: string) {
    return this.on(app, id, (l) => l.update(app, id, input, nonce), { op: 'update', app, id, input, nonce });
  }

  /**
   * A rolling update. On this host `ready` decides when the new instance takes over; on another, its
   * node waits by `wait` with its own checks (a callback cannot cross hosts).
   */
  surgeUpdate(app: string, id: string, input: UpdateMachineInput, nonce: string | undefined, ready: SurgeReady, wait: WaitOptions, onSwitched?: () => void) {
    return this.on(app, id, (l) => l.surgeUpdate(app, id, input, nonce, ready, wait, onSwitched), { op: 'surgeUpdate', app, id, input, nonce, wait });
  }

  destroy(app: string, id: string, force: boolean, nonce?: string, opts: { ignoreLease?: boolean } = {}) {
    return this.on(app, id, (l) => l.destroy(app, id, force, nonce, opts), { op: 'destroy', app, id, force, nonce, ignoreLease: opts.ignoreLease });
  }

  setCordon(app: string, id: string, cordoned: boolean, nonce?: string) {
    return this.on(app, id, (l) => l.setCordon(app, id, cordoned, nonce), { op: 'cordon', app, id, cordoned, nonce });
  }

  wait(app: string, id: string, opts: { state: MachineState; timeoutMs: number; instanceId?: string }) {
    return this.on(app, id, (l) => l.wait(app, id, opts), { op: 'wait', app, id, opts });
  }

  /** Waits until a machine's current instance passes its checks, judged by its own host. */
  async waitHealthy(m: Machine, wait: WaitOptions): Promise<void> {
    if (this.isLocal(m)) return this.deps.readiness.waitHealthy(m, wait);
    await this.remote(await this.hostOf(m), { op: 'waitHealthy', app: m.appName, id: m.id, wait });
  }

  /** Carries out an operation another node sent for one of this host's machines. */
  async runLocal(op: RemoteOp): Promise<Machine> {
    const l = this.deps.local;
    if (op.op !== 'create') {
      const m = await l.get(op.app, op.id);
      if (!this.isLocal(m)) throw new UserError({ code: 'machine_moved', kind: 'conflict', message: `machine ${m.id} is not on this host`, hint: 'ask again: the machine is on another host now' });
    }
    switch (op.op) {
      case 'create':
        return l.create(op.app, op.input);
      case 'start':
        return l.start(op.app, op.id, op.nonce);
      case 'stop':
        return l.stop(op.app, op.id, op.input, op.nonce);
      case 'restart':
        return l.restart(op.app, op.id, op.input, op.nonce);
      case 'update':
        return l.update(op.app, op.id, op.input, op.nonce);
      case 'surgeUpdate': {
        const cur = await l.get(op.app, op.id);
        return l.surgeUpdate(op.app, op.id, op.input, op.nonce, (ref, port, exited) => this.deps.readiness.waitReady({ ...cur, config: op.input.config }, ref, port, exited, op.wait));
      }
      case 'destroy':
        return l.destroy(op.app, op.id, op.force, op.nonce, { ignoreLease: op.ignoreLease });
      case 'cordon':
        return l.setCordon(op.app, op.id, op.cordoned, op.nonce);
      case 'wait':
        return l.wait(op.app, op.id, op.opts);
      case 'waitHealthy': {
        const m = await l.get(op.app, op.id);
        await this.deps.readiness.waitHealthy(m, op.wait);
        return l.get(op.app, op.id);
      }
    }
  }

  private async on(app: string, id: string, local: (l: MachineService) => Promise<Machine>, op: RemoteOp): Promise<Machine> {
    const m = await this.deps.local.get(app, id);
    if (this.isLocal(m)) return local(this.deps.local);
    return this.remote(await this.hostOf(m), op);
  }

  private async hostOf(m: Machine): Promise<Host> {
    const h = this.deps.hosts.cached(m.hostId) ?? (await this.deps.hosts.list()).find((x) => x.id === m.hostId);
    if (!h) throw new UserError({ code: 'host_not_found', kind: 'unavailable', message: `machine ${m.id} is on host ${m.hostId}, which is not in the cluster`, hint: 'list hosts with: hangar hosts list' });
    if (h.state === 'down') throw new UserError({ code: 'host_down', kind: 'unavailable', message: `machine ${m.id} is on host ${h.name}, which is down (no heartbeat for ${Math.round(h.seenAgoMs / 1000)}s)`, hint: `start its node again, or move the work: hangar machines clone ${m.id} --region REGION` });
    return h;
  }

  /**
   * Sends the operation to the machine's node. If that host goes down meanwhile (a node that neither
   * answers nor refuses), the call ends at once with `host_down` instead of hanging until it times out.
   */
  private async remote(host: Host, op: RemoteOp): Promise<Machine> {
    if (!this.deps.node) throw new Error('no node client: this node is not part of a cluster');
    const waitMs = op.op === 'surgeUpdate' || op.op === 'waitHealthy' ? op.wait.timeoutMs : op.op === 'wait' ? op.opts.timeoutMs : 0;
    const down = new AbortController();
    const off = this.deps.hosts.onChange((h) => {
      if (h.id === host.id && h.state === 'down') down.abort();
    });
    try {
      return await this.deps.node.call<Machine>(host, INTERNAL_ROUTES.machineOp, op, { timeoutMs: 10 * 60_000 + waitMs, signal: down.signal });
    } catch (err) {
      if (!down.signal.aborted) throw err;
      throw new UserError({ code: 'host_down', kind: 'unavailable', message: `host ${host.name} went down during ${op.op} of ${op.op === 'create' ? 'a new machine' : `machine ${op.id}`}: its node stopped heartbeating`, hint: 'start its node again; once it is back it reports the machine as it really is', cause: err });
    } finally {
      off();
    }
  }
}
