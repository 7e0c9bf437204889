import type { Deployment, DeployEvent } from '../core/deploy.js';
import { TASK_PREFIX } from '../core/ids.js';
import type { LogSource } from '../core/log-line.js';
import type { Machine, MachineEvent } from '../core/types.js';
import { GRACE_OUTPUT, type HealthChange } from '../health/index.js';
import type { InstanceExit, InstanceSpec } from '../runtime/driver.js';
import { deployEventLines, exitText, healthLine, machineEventLines, oneLine, shellWords, signalLines, type Said } from './describe.js';
import type { PlatformLine } from './collector.js';
import type { ReleaseCommandObserver } from './release-watch.js';
import { RepeatLimiter } from './repeat-limiter.js';

/** A request the proxy answered itself with a 502 or 503. */
export interface ProxyErrorReport {
  kind: string;
  message: string;
  /** Set when one machine failed the request (refused, reset, did not answer). */
  machineId?: string;
}

export interface PlatformLogOptions {
  /** Stores a line next to the app's output (the log collector's `append`). */
  store: (line: PlatformLine) => void;
  /** Identical proxy lines of an app are written at most once per window (default 1 s). */
  proxyWindowMs?: number;
  /** A line could not be stored: told instead of failing the machine operation, check or request that caused it. */
  onError?: (err: unknown) => void;
  /** The rate limit's timer (tests drive it by hand). */
  schedule?: (fn: () => void, ms: number) => () => void;
}

/** A signal sent to an instance (the lifecycle's report); `escalated`: SIGKILL followed after `timeoutMs`. */
export interface SignalReport {
  instanceId: string;
  signal: string;
  at: number;
  timeoutMs: number;
  escalated: boolean;
}

interface About {
  app: string;
  machineId?: string;
  instanceId?: string;
  region?: string;
}

/** Instances whose check statuses are remembered per machine: the current one and a deploy's candidate. */
const INSTANCES_KEPT = 2;

/**
 * Turns what the platform does into `hangar logs` lines: machine events (`runner`), check status
 * changes (`health`), the release command (`release_command`), deploy events (`deploy`) and requests
 * the proxy failed (`proxy`, rate-limited). The daemon feeds it; it only formats and stores.
 */
export class PlatformLog implements ReleaseCommandObserver {
  /** App and region of every machine seen, for lines that arrive with a machine id only. */
  private readonly where = new Map<string, { app: string; region: string }>();
  /** machine → instance → check → last status written (a check in its grace period has none). */
  private readonly checks = new Map<string, Map<string, Map<string, string>>>();
  private readonly proxy: RepeatLimiter<{ app: string; report: ProxyErrorReport }>;

  constructor(private readonly opts: PlatformLogOptions) {
    this.proxy = new RepeatLimiter({ windowMs: opts.proxyWindowMs ?? 1000, schedule: opts.schedule, write: (x, n) => this.writeProxy(x.app, x.report, n) });
  }

  /** Keeps track of where a machine is; a destroyed one is forgotten. */
  machine(m: Pick<Machine, 'id' | 'appName' | 'region' | 'state'>): void {
    if (m.state === 'destroyed') {
      this.where.delete(m.id);
      this.checks.delete(m.id);
    } else this.where.set(m.id, { app: m.appName, region: m.region });
  }

  machineEvent(e: MachineEvent, m: Machine): void {
    this.machine(m);
    const about = { app: m.appName, machineId: m.id, instanceId: m.instanceId, region: m.region };
    for (const s of machineEventLines(e)) this.write('runner', about, s);
  }

  signal(m: Machine, s: SignalReport): void {
    const about = { app: m.appName, machineId: m.id, instanceId: s.instanceId, region: m.region };
    const [sent, kill] = signalLines({ ...s, state: m.state });
    this.write('runner', about, sent!, s.at);
    if (kill) this.write('runner', about, kill, s.at + s.timeoutMs);
  }

  /** Writes a line per check whose status changed; repeated probes with the same result write nothing. */
  health(e: HealthChange): void {
    const where = this.where.get(e.machineId);
    if (!where) return;
    const last = this.instanceChecks(e.machineId, e.instanceId);
    for (const c of e.checks) {
      // A check in its grace period has not said anything yet; after it, its first result is news.
      if (c.status === 'critical' && c.output === GRACE_OUTPUT) {
        last.delete(c.name);
        continue;
      }
      if (last.get(c.name) === c.status) continue;
      last.set(c.name, c.status);
      this.write('health', { app: where.app, machineId: e.machineId, instanceId: e.instanceId, region: where.region }, healthLine(c));
    }
  }

  deploy(d: Deployment, e: DeployEvent): void {
    for (const s of deployEventLines(d, e)) {
      const region = s.machineId ? (d.machines.find((p) => p.machineId === s.machineId)?.region ?? this.where.get(s.machineId)?.region) : undefined;
      this.write('deploy', { app: d.appName, machineId: s.machineId, region }, s);
    }
  }

  /** A certificate of the app was added, issued, renewed, imported or removed, or an order failed. */
  certificate(app: string, message: string, level: 'info' | 'warn'): void {
    this.write('proxy', { app }, { level, message });
  }

  proxyError(app: string, report: ProxyErrorReport): void {
    this.proxy.offer(`${app}\u0000${report.machineId ?? ''}\u0000${report.message}`, { app, report });
  }

  releaseStarting(spec: InstanceSpec): void {
    const t = taskOf(spec);
    this.write(t.source, releaseAbout(spec), { level: 'info', message: `Running ${t.name}: ${oneLine(shellWords(spec.cmd), 400)}` });
  }

  releaseFailed(spec: InstanceSpec, err: Error): void {
    const t = taskOf(spec);
    this.write(t.source, releaseAbout(spec), { level: 'error', message: `${t.Name} failed to start: ${oneLine(err.message)}` });
  }

  releaseExited(spec: InstanceSpec, exit: InstanceExit): void {
    const t = taskOf(spec);
    this.write(t.source, releaseAbout(spec), { level: exit.exitCode === 0 ? 'info' : 'error', message: `${t.Name} ${exitText(exit)}` });
  }

  releaseSignalled(spec: InstanceSpec, signal: string): void {
    const t = taskOf(spec);
    this.write(t.source, releaseAbout(spec), { level: 'warn', message: `Sent ${signal} to the ${t.name}: it ran past ${t.limit}` });
  }

  /** Writes the proxy summaries still pending. */
  stop(): void {
    this.proxy.flush();
  }

  private writeProxy(app: string, r: ProxyErrorReport, repeats: number): void {
    const region = r.machineId ? this.where.get(r.machineId)?.region : undefined;
    this.write('proxy', { app, machineId: r.machineId, region }, { level: 'error', message: repeats > 0 ? `${r.message} (${repeats} more)` : r.message });
  }

  private instanceChecks(machineId: string, instanceId: string): Map<string, string> {
    const byInstance = this.checks.get(machineId) ?? new Map<string, Map<string, string>>();
    this.checks.set(machineId, byInstance);
    let last = byInstance.get(instanceId);
    if (!last) {
      last = new Map();
      byInstance.set(instanceId, last);
      for (const old of [...byInstance.keys()].slice(0, -INSTANCES_KEPT)) byInstance.delete(old);
    }
    return last;
  }

  /** Stamped when stored, unless `at` says when it happened (a signal reported after the exit). */
  private write(source: LogSource, about: About, s: Said, at?: number): void {
    const line: PlatformLine = {
      ...(at !== undefined ? { timestamp: new Date(at).toISOString() } : {}),
      source,
      app: about.app,
      ...(about.machineId ? { machine_id: about.machineId } : {}),
      ...(about.instanceId ? { instance_id: about.instanceId } : {}),
      ...(about.region ? { region: about.region } : {}),
      level: s.level,
      message: s.message,
    };
    try {
      this.opts.store(line);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }
}

/** Temporary machines are named by what they run (see deploy/release-command.ts). */
function taskOf(spec: InstanceSpec): { source: 'release_command' | 'machine_check'; name: string; Name: string; limit: string } {
  if (spec.machineId.startsWith(TASK_PREFIX.machine_check)) return { source: 'machine_check', name: 'machine check', Name: 'Machine check', limit: 'the deploy wait timeout' };
  return { source: 'release_command', name: 'release command', Name: 'Release command', limit: 'release_command_timeout' };
}

/** The release command runs in the app's primary region, which its env names. */
function releaseAbout(spec: InstanceSpec): About {
  return { app: spec.appName, machineId: spec.machineId, instanceId: spec.instanceId, region: spec.env.FLY_REGION || undefined };
}
