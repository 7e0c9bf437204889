import type { Logger } from 'pino';
import type { AppRouting, CheckStatus, Machine } from '../core/types.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { MachineBus } from '../machines/bus.js';
import type { ChangeFeed, FeedMessage } from '../state/feed.js';
import type { State } from '../state/index.js';
import type { HostRegistry } from './host-registry.js';

/** What the sync feeds: the node's routing (the proxy's table of every host's machines). */
export interface RoutingSink {
  applyRemote(m: Machine, via: { id: string; address: string; proxyPort: number }): void;
  setRemoteHealth(machineId: string, instanceId: string, routable: boolean): void;
  hostDown(hostId: string): void;
  remoteMachines(): string[];
  forgetRemote(machineId: string): void;
  setAppRouting(app: string, r: AppRouting): void;
}

/** How often every node re-reads the whole picture, repairing any notification it missed. */
export const DEFAULT_RESYNC_MS = 5000;

/**
 * Keeps every node's routing in step with the other hosts: this host's machine changes and health
 * changes go out on the change feed; the others' come in and are applied (their rows read from the
 * shared state), and a periodic full resync repairs anything lost. A host that goes down stops taking
 * traffic here at once; when it is back, a resync brings its machines' true state.
 */
export class ClusterSync {
  private timer?: NodeJS.Timeout;
  private readonly unsubs: Array<() => void> = [];
  private resyncing?: Promise<void>;
  /** One read-and-apply per machine at a time, so an older row never lands after a newer one. */
  private readonly perMachine = new KeyedMutex();
  private readonly applied = new Map<string, string>();
  /** When the health applied for each machine was decided (its host's clock), so an older one never wins. */
  private readonly healthAt = new Map<string, number>();
  /** Other hosts' machines' latest check results, for their machine JSON here. */
  private readonly checks = new Map<string, CheckStatus[]>();

  constructor(private readonly deps: { state: State; feed: ChangeFeed; routing: RoutingSink; hosts: HostRegistry; bus: MachineBus; log: Logger; resyncMs?: number }) {}

  async start(): Promise<void> {
    const { feed, bus, hosts } = this.deps;
    this.unsubs.push(bus.onMachine((m) => feed.publish('machine', { id: m.id })));
    this.unsubs.push(
      hosts.onChange((h) => {
        if (h.id === hosts.host.id) return;
        if (h.state === 'down') this.deps.routing.hostDown(h.id);
        else void this.resync();
      }),
    );
    await feed.start(
      (m) => void this.receive(m).catch((err) => this.deps.log.warn({ err, topic: m.topic }, 'could not apply a change from another node')),
      () => void this.resync(),
    );
    await this.resync();
    this.timer = setInterval(() => void this.resync(), this.deps.resyncMs ?? DEFAULT_RESYNC_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const u of this.unsubs.splice(0)) u();
    await this.deps.feed.stop();
  }

  /** This host's instance started or stopped taking traffic: stored, then told to the others. */
  healthChanged(machineId: string, instanceId: string, routable: boolean): void {
    const at = Date.now();
    this.deps.state.machines
      .saveHealth(machineId, instanceId, routable, at)
      .then(() => this.deps.feed.publish('health', { id: machineId, instance: instanceId, routable, at }))
      .catch((err) => this.deps.log.warn({ err, machine: machineId }, 'could not store machine health'));
  }

  /** One of this host's machines has new check results (already stored). */
  checksChanged(machineId: string): void {
    this.deps.feed.publish('checks', { id: machineId });
  }

  /** Another host's machine's latest check results, as its host stored them. */
  checksOf(machineId: string): CheckStatus[] | undefined {
    return this.checks.get(machineId);
  }

  /** An app's routing changed here (hostnames, sets, pins, hold window). */
  appChanged(app: string): void {
    this.deps.feed.publish('app', { name: app });
  }

  private async receive(msg: FeedMessage): Promise<void> {
    if (msg.from === this.deps.hosts.host.id) return;
    const body = msg.body as { id?: string; instance?: string; routable?: boolean; name?: string; at?: number };
    switch (msg.topic) {
      case 'machine': {
        const id = body.id;
        if (!id) return;
        await this.perMachine.run(id, async () => {
          const m = await this.deps.state.machines.get(id);
          if (m) await this.apply(m);
          else this.deps.routing.forgetRemote(id);
        });
        return;
      }
      case 'health':
        if (body.id && body.instance && this.deps.hosts.stateOf(msg.from) !== 'down') this.health(body.id, body.instance, Boolean(body.routable), body.at ?? Date.now());
        return;
      case 'checks': {
        const id = body.id;
        if (id) this.checks.set(id, (await this.deps.state.machines.checks(id)).get(id) ?? []);
        return;
      }
      case 'app': {
        const app = body.name ? await this.deps.state.apps.byName(body.name) : undefined;
        if (app) this.deps.routing.setAppRouting(app.name, app.routing);
        return;
      }
      case 'deploy':
      case 'host':
        return;
    }
  }

  private health(machineId: string, instanceId: string, routable: boolean, at: number): void {
    if (at < (this.healthAt.get(machineId) ?? 0)) return;
    this.healthAt.set(machineId, at);
    this.deps.routing.setRemoteHealth(machineId, instanceId, routable);
  }

  private async apply(m: Machine): Promise<void> {
    if (m.hostId === this.deps.hosts.host.id) return;
    // Rows are read after the change was announced; one older than what was applied is stale.
    const last = this.applied.get(m.id);
    if (last && m.updatedAt < last) return;
    this.applied.set(m.id, m.updatedAt);
    let h = this.deps.hosts.cached(m.hostId);
    if (!h) {
      await this.deps.hosts.list();
      h = this.deps.hosts.cached(m.hostId);
    }
    if (!h) return;
    this.deps.routing.applyRemote(m, { id: h.id, address: h.address, proxyPort: h.proxyPort });
  }

  /** Re-reads every other host's machines, their health and every app's routing. One at a time. */
  resync(): Promise<void> {
    this.resyncing ??= this.fullResync()
      .catch((err) => this.deps.log.warn({ err }, 'cluster resync failed; retrying at the next'))
      .finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  private async fullResync(): Promise<void> {
    const { state, routing, hosts } = this.deps;
    const self = hosts.host.id;
    await hosts.list();
    const [machines, health, apps, checks] = await Promise.all([state.machines.list(), state.machines.health(), state.apps.list(), state.machines.checks()]);
    for (const a of apps) routing.setAppRouting(a.name, a.routing);
    const present = new Set<string>();
    for (const m of machines) {
      if (m.hostId === self) continue;
      present.add(m.id);
      this.checks.set(m.id, checks.get(m.id) ?? []);
      await this.apply(m);
      const hl = health.get(m.id);
      if (hosts.stateOf(m.hostId) === 'down') routing.setRemoteHealth(m.id, m.instanceId, false);
      else if (hl) this.health(m.id, hl.instanceId, hl.routable, hl.at);
    }
    for (const id of routing.remoteMachines()) {
      if (present.has(id)) continue;
      routing.forgetRemote(id);
      this.applied.delete(id);
      this.healthAt.delete(id);
      this.checks.delete(id);
    }
  }
}
