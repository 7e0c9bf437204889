import type { Logger } from 'pino';
import type { Machine } from '../core/types.js';
import { checkSpecsFor, HealthMonitor, type CheckState } from '../health/index.js';
import type { MachineBus } from '../machines/bus.js';
import { RoutingTable } from '../proxy/routing-table.js';

/** Default hold window: how long a request waits for a routable machine before a 503. */
export const DEFAULT_HOLD_MS = 5000;

/**
 * Connects machine events to health checks and the proxy's routing table: a started machine is checked
 * (or routable at once when it has no routing checks); a machine leaving `started` or cordoned leaves
 * rotation immediately. Check results are kept for the API's machine JSON.
 */
export class Routing {
  readonly table = new RoutingTable();
  private readonly monitor: HealthMonitor;
  private readonly checks = new Map<string, CheckState[]>();
  private readonly watching = new Map<string, string>();
  private unsub?: () => void;

  constructor(
    private readonly bus: MachineBus,
    private readonly log: Logger,
  ) {
    this.monitor = new HealthMonitor({
      onChange: (e) => {
        this.checks.set(e.machineId, e.checks);
        this.table.setHealthy(e.machineId, e.instanceId, e.routable);
      },
    });
  }

  start(initial: Machine[]): void {
    this.unsub = this.bus.onMachine((m) => this.apply(m));
    for (const m of initial) this.apply(m);
  }

  stop(): void {
    this.unsub?.();
    this.monitor.stop();
  }

  checksOf(machineId: string): CheckState[] {
    return this.checks.get(machineId) ?? [];
  }

  appForHost(host: string): string | undefined {
    const m = /^([a-z][a-z0-9-]*)\.localhost$/.exec(host);
    return m?.[1];
  }

  private apply(m: Machine): void {
    if (m.state === 'destroyed') {
      this.table.remove(m.appName, m.id);
      this.monitor.unwatch(m.id);
      this.watching.delete(m.id);
      this.checks.delete(m.id);
      return;
    }
    const started = m.state === 'started' && m.port !== null;
    this.table.upsert({ machineId: m.id, instanceId: m.instanceId, app: m.appName, region: m.region, host: '127.0.0.1', port: started ? m.port : null, inService: started && !m.cordoned });
    const watched = this.watching.get(m.id);
    const key = `${m.instanceId}:${m.port}`;
    if (started && watched !== key) {
      this.monitor.unwatch(m.id);
      let specs: ReturnType<typeof checkSpecsFor> = [];
      try {
        specs = checkSpecsFor(m.config, m.port!);
      } catch (err) {
        // The API validates configs, so this is a stored config from an older version: run no checks.
        this.log.error({ err, machine: m.id }, 'machine has invalid checks; not checking it');
      }
      this.watching.set(m.id, key);
      if (specs.length > 0) this.monitor.watch({ machineId: m.id, instanceId: m.instanceId, port: m.port! }, specs);
      if (!specs.some((s) => s.gatesRouting)) this.table.setHealthy(m.id, m.instanceId, true);
      this.log.debug({ machine: m.id, checks: specs.length }, 'watching machine health');
    } else if (!started && watched) {
      this.monitor.unwatch(m.id);
      this.watching.delete(m.id);
      this.table.setHealthy(m.id, m.instanceId, false);
    }
  }
}
