import type { Logger } from 'pino';
import type { Machine } from '../core/types.js';
import type { MachineOps } from './ops.js';

/** What autoscaling needs from the proxy: how long a machine has been idle, and per-app idle windows. */
export interface TrafficView {
  idleFor(app: string, machineId: string): number;
  idleTimeoutMs(app: string): number;
}

export interface AutoscalerOptions {
  machines: MachineOps;
  traffic: TrafficView;
  apps: () => Promise<string[]>;
  log: Logger;
  /** How often idle machines are looked for (default 5s). */
  intervalMs?: number;
}

const autostopOf = (m: Machine) => m.config.services.some((s) => s.autostop === 'stop' || s.autostop === 'suspend');
const autostartOf = (m: Machine) => m.config.services.some((s) => s.autostart === true);
const minRunning = (ms: Machine[]) => Math.max(0, ...ms.flatMap((m) => m.config.services.map((s) => s.min_machines_running ?? 0)));

/**
 * Fly's auto_stop_machines / auto_start_machines: every interval, one machine of an app that has been
 * idle for the app's idle window is stopped (never going below min_machines_running); when a request finds
 * no machine with room, a stopped machine is started and the proxy holds the request until it is healthy.
 */
export class Autoscaler {
  private timer?: NodeJS.Timeout;
  private readonly starting = new Set<string>();
  private ticking = false;

  constructor(private readonly opts: AutoscalerOptions) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 5000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The proxy found no machine with room for a request to `app`: start one if the app allows it. */
  wake(app: string): void {
    if (this.starting.has(app)) return;
    this.starting.add(app);
    void this.startOne(app).finally(() => this.starting.delete(app));
  }

  private async startOne(app: string): Promise<void> {
    try {
      const ms = await this.opts.machines.list(app);
      const candidate = ms.find((m) => m.state === 'stopped' && autostartOf(m));
      if (!candidate) return;
      this.opts.log.info({ app, machine: candidate.id }, 'autostart: starting a stopped machine for waiting requests');
      await this.opts.machines.start(app, candidate.id);
    } catch (err) {
      this.opts.log.warn({ err, app }, 'autostart failed');
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const app of await this.opts.apps()) await this.stopIdle(app);
    } catch (err) {
      this.opts.log.warn({ err }, 'autostop pass failed');
    } finally {
      this.ticking = false;
    }
  }

  private async stopIdle(app: string): Promise<void> {
    // Only machines a service serves: a worker group's running machines neither count towards
    // min_machines_running nor get stopped for lack of requests they never receive.
    const ms = (await this.opts.machines.list(app)).filter((m) => m.config.services.length > 0);
    const started = ms.filter((m) => m.state === 'started');
    if (started.length <= minRunning(ms)) return;
    const window = this.opts.traffic.idleTimeoutMs(app);
    const idle = started.filter((m) => autostopOf(m) && this.opts.traffic.idleFor(app, m.id) >= window);
    const victim = idle[0];
    if (!victim) return;
    this.opts.log.info({ app, machine: victim.id, idleMs: this.opts.traffic.idleFor(app, victim.id) }, 'autostop: stopping an idle machine');
    await this.opts.machines.stop(app, victim.id, {}).catch((err) => this.opts.log.warn({ err, machine: victim.id }, 'autostop could not stop the machine'));
  }
}
