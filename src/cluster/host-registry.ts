import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ConflictError, NotFoundError, PreconditionError } from '../core/errors.js';
import { newHostId } from '../core/ids.js';
import type { Host, HostState } from '../core/types.js';
import type { State } from '../state/index.js';

/** What a node announces about its host when it starts. */
export type NodeIdentity = Pick<Host, 'name' | 'region' | 'address' | 'apiPort' | 'proxyPort' | 'cpus' | 'memoryMb' | 'runtimes' | 'version'>;

export interface HostTiming {
  heartbeatMs: number;
  /** A host whose heartbeat has not moved for this long is down. */
  downAfterMs: number;
}

export const DEFAULT_HOST_TIMING: HostTiming = { heartbeatMs: 1000, downAfterMs: 10_000 };

/** A host as listed: its row, its state as this node judges it, and how many live machines it has. */
export interface HostStatus extends Host {
  state: HostState;
  machines: number;
  /** Milliseconds since this node last saw the host's heartbeat move (its own clock). */
  seenAgoMs: number;
}

/** The host id a node keeps in its HANGAR_HOME, so a restarted node is the same host. */
const HOST_FILE = 'host.json';

/**
 * This node's host in the cluster, and every other host's liveness. Liveness is judged by each host's
 * heartbeat counter moving, timed on this node's clock, so clocks that disagree across hosts do not
 * make a live host look down (only the first sighting uses the writer's own time).
 */
export class HostRegistry {
  private self?: Host;
  private timer?: NodeJS.Timeout;
  private removed = false;
  private readonly seen = new Map<string, { heartbeat: number; at: number }>();
  private readonly listeners = new Set<(h: HostStatus) => void>();
  private readonly states = new Map<string, HostState>();
  private readonly last = new Map<string, HostStatus>();
  /** When this node last read the hosts (a gap means it could not see anyone's heartbeat). */
  private lastListAt = 0;

  constructor(private readonly deps: { state: State; home: string; log: Logger; timing: HostTiming; now?: () => number }) {}

  get host(): Host {
    if (!this.self) throw new Error('host not registered yet');
    return this.self;
  }

  get timing(): HostTiming {
    return this.deps.timing;
  }

  /**
   * Registers (or re-registers) this node's host. A name another live node holds, or a name another
   * host's row already has, is refused: two nodes must never act for the same host.
   */
  async register(id: NodeIdentity): Promise<Host> {
    const hosts = this.deps.state.hosts;
    const known = readHostId(this.deps.home);
    const byName = await hosts.byName(id.name);
    if (byName && byName.id !== known) throw nameTaken(id.name, byName, this.now() - byName.lastSeenAt < this.deps.timing.downAfterMs);
    const prev = known ? await hosts.get(known) : undefined;
    const now = new Date(this.now()).toISOString();
    const host: Host = {
      id: known ?? newHostId(),
      ...id,
      draining: prev?.draining ?? false,
      heartbeat: prev?.heartbeat ?? 0,
      lastSeenAt: this.now(),
      startedAt: now,
      createdAt: prev?.createdAt ?? now,
    };
    try {
      await hosts.upsert(host);
    } catch (err) {
      // Two nodes that started together with one name: the unique index let one of them in.
      const winner = await hosts.byName(id.name);
      if (winner && winner.id !== host.id) throw nameTaken(id.name, winner, true);
      throw err;
    }
    if (!known) writeHostId(this.deps.home, host.id);
    this.self = host;
    await this.list();
    return host;
  }

  /** Heartbeats every `heartbeatMs` until stopped. A failed beat (database away) is retried at the next. */
  start(): void {
    const beat = async () => {
      if (this.removed) return;
      try {
        if (!(await this.deps.state.hosts.beat(this.host.id, this.now()))) {
          this.removed = true;
          this.deps.log.error({ host: this.host.name }, 'this host was removed from the cluster (hangar hosts remove); it no longer heartbeats');
        }
        await this.list();
      } catch (err) {
        this.deps.log.warn({ err }, 'heartbeat failed; retrying');
      }
    };
    this.timer = setInterval(() => void beat(), this.deps.timing.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Called with a host whenever this node sees its state change (ready, draining, down). */
  onChange(fn: (h: HostStatus) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Every host with its state as judged now, and its live machine count. */
  async list(): Promise<HostStatus[]> {
    const [hosts, counts] = await Promise.all([this.deps.state.hosts.list(), this.deps.state.machines.countByHost()]);
    const now = this.now();
    // This node was blind (the database was away): nobody's silence in that time counts against them.
    if (this.lastListAt && now - this.lastListAt > 3 * this.deps.timing.heartbeatMs) for (const s of this.seen.values()) s.at = Math.max(s.at, now);
    this.lastListAt = now;
    const out = hosts.map((h) => this.judge(h, counts.get(h.id) ?? 0));
    this.last.clear();
    for (const h of out) this.last.set(h.id, h);
    for (const h of out) {
      if (this.states.get(h.id) !== h.state) {
        const first = !this.states.has(h.id);
        this.states.set(h.id, h.state);
        if (!first || h.state === 'down') for (const fn of this.listeners) fn(h);
      }
    }
    return out;
  }

  /** A host as this node last listed it (every heartbeat), without asking the database. */
  cached(hostId: string): HostStatus | undefined {
    return this.last.get(hostId);
  }

  /** Every host as this node last listed it (at each heartbeat), without asking the database. */
  known(): HostStatus[] {
    return [...this.last.values()];
  }

  /** A machine's host as its JSON shows it. */
  machineHost(hostId: string): { id: string; name: string; status: 'ok' | 'unreachable'; address: string } {
    const h = this.last.get(hostId);
    if (!h) return { id: hostId, name: '', status: 'unreachable', address: '' };
    return { id: h.id, name: h.name, status: h.state === 'down' ? 'unreachable' : 'ok', address: h.address };
  }

  /** The state this node last judged a host to be in (`ready` for one it has not judged yet). */
  stateOf(hostId: string): HostState {
    return this.states.get(hostId) ?? 'ready';
  }

  /** One host by id or name. */
  async find(ref: string): Promise<HostStatus> {
    const h = (await this.list()).find((x) => x.id === ref || x.name === ref);
    if (!h) throw new NotFoundError('host', ref, 'list hosts with: hangar hosts list');
    return h;
  }

  async setDraining(ref: string, draining: boolean): Promise<HostStatus> {
    const h = await this.find(ref);
    await this.deps.state.hosts.setDraining(h.id, draining);
    if (h.id === this.self?.id) this.self = { ...this.self, draining };
    return this.find(h.id);
  }

  /**
   * Removes a host from the cluster. Refused while its node is alive or while it has machines; with
   * `force`, its machines are written off as destroyed (their processes, if any, are the host's own).
   */
  async remove(ref: string, force: boolean): Promise<HostStatus> {
    const h = await this.find(ref);
    if (!force && h.state !== 'down') throw new PreconditionError('host_alive', `host ${h.name} is ${h.state}: its node is still running`, `stop its node first, or pass --force`);
    if (!force && h.machines > 0) throw new PreconditionError('host_has_machines', `host ${h.name} still has ${h.machines} machine(s)`, `move them first (hangar hosts drain ${h.name} --migrate), or pass --force`);
    await this.deps.state.hosts.deleteWritingOffMachines(h.id);
    return h;
  }

  private judge(h: Host, machines: number): HostStatus {
    const now = this.now();
    const last = this.seen.get(h.id);
    let at: number;
    if (h.id === this.self?.id) at = now;
    else if (!last) at = Math.min(now, h.lastSeenAt);
    else at = last.heartbeat === h.heartbeat ? last.at : now;
    this.seen.set(h.id, { heartbeat: h.heartbeat, at });
    const seenAgoMs = Math.max(0, now - at);
    const state: HostState = seenAgoMs > this.deps.timing.downAfterMs ? 'down' : h.draining ? 'draining' : 'ready';
    return { ...h, state, machines, seenAgoMs };
  }

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }
}

function nameTaken(name: string, other: Host, alive: boolean): ConflictError {
  return new ConflictError(
    'host_name_taken',
    `host name ${name} is already taken by host ${other.id} at ${other.address}${alive ? ', whose node is running' : ''}`,
    alive ? 'give this node another --host-name' : `if this is that host with a new HANGAR_HOME, remove the old entry first (hangar hosts remove ${name}), or give this node another --host-name`,
  );
}

function readHostId(home: string): string | undefined {
  const file = join(home, HOST_FILE);
  if (!existsSync(file)) return undefined;
  const id = (JSON.parse(readFileSync(file, 'utf8')) as { id?: unknown }).id;
  return typeof id === 'string' && /^[0-9a-f]{12}$/.test(id) ? id : undefined;
}

function writeHostId(home: string, id: string): void {
  const file = join(home, HOST_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify({ id }) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
