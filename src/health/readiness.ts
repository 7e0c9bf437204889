/**
 * Readiness: when a machine instance may take traffic, or when a deploy may move on from it. An
 * instance with checks is ready when every check passes; one without checks but with a service is
 * ready once its port accepts a TCP connection (so a request holds while the app boots instead of
 * being refused); one without either must stay up for `minUpMs`.
 */
import { UserError } from '../core/errors.js';
import type { Machine } from '../core/types.js';
import type { HealthMonitor } from './monitor.js';
import { STARTUP_PROBE_MS } from './check-loop.js';
import { runTcpCheck } from './runner.js';
import { checkSpecsFor, type CheckSpec } from './specs.js';
import type { HealthChange } from './state.js';

/** How often a port is tried until it accepts: as often as a check is probed until it first passes. */
export const READINESS_PROBE_MS = STARTUP_PROBE_MS;

export interface InstanceExit {
  exitCode: number | null;
  signal: string | null;
}

export interface WaitOptions {
  timeoutMs: number;
  minUpMs: number;
}

export interface ReadinessDeps {
  monitor: HealthMonitor;
  onHealth: (fn: (e: HealthChange) => void) => () => void;
  /** An instance that proved ready before it became the machine's own (no gap in routing when it does). */
  markCandidate: (machineId: string, instanceId: string) => void;
  forgetCandidate: (machineId: string, instanceId: string) => void;
  host?: string;
}

/** Whether something accepts TCP connections on host:port right now (one TCP check). */
export async function portAccepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const spec: CheckSpec = { name: 'port', type: 'tcp', port, intervalMs: READINESS_PROBE_MS, timeoutMs, gracePeriodMs: 0, method: 'GET', path: '/', protocol: 'http', headers: {}, gatesRouting: false };
  return (await runTcpCheck(spec, host)).ok;
}

/**
 * Tries a port at once and then every READINESS_PROBE_MS until it accepts (`onOpen` is called once) or
 * the returned cancel is called.
 */
export function probeUntilOpen(host: string, port: number, onOpen: () => void): () => void {
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const attempt = () => {
    void portAccepts(host, port).then((ok) => {
      if (cancelled) return;
      if (ok) onOpen();
      else timer = setTimeout(attempt, READINESS_PROBE_MS);
    });
  };
  attempt();
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}

const crashError = (id: string, e: InstanceExit) =>
  new UserError({ code: 'machine_crashed', message: `machine ${id} exited (code ${e.exitCode ?? e.signal}) while starting`, hint: `see its output: hangar logs --no-tail --machine ${id}` });

const timeoutError = (id: string, ms: number) =>
  new UserError({ code: 'wait_timeout', kind: 'timeout', message: `machine ${id} did not pass its checks within ${ms} ms`, hint: 'raise --wait-timeout, or look at hangar logs and the check output in hangar machines status' });

/** Races `ready` against the instance exiting and the timeout; `cleanup` always runs. */
async function race(id: string, ready: Promise<void>, exited: Promise<InstanceExit>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(id, timeoutMs)), timeoutMs);
  });
  const crash = exited.then((e) => {
    throw crashError(id, e);
  });
  crash.catch(() => {}); // an exit after the instance was ready is the lifecycle's business, not this wait's
  try {
    await Promise.race([ready, timeout, crash]);
  } finally {
    clearTimeout(timer);
  }
}

export class ReadinessWaiter {
  private readonly host: string;

  constructor(private readonly deps: ReadinessDeps) {
    this.host = deps.host ?? '127.0.0.1';
  }

  /**
   * Readiness of a new instance a deploy started next to the machine's current one. Rejects when the
   * instance exits first (a crash fails fast, not at the timeout) or after `timeoutMs`.
   */
  waitReady(m: Machine, ref: { machineId: string; instanceId: string }, port: number, exited: Promise<InstanceExit>, opts: WaitOptions): Promise<void> {
    return this.untilReady(m, ref, port, exited, opts, true);
  }

  private async untilReady(m: Machine, ref: { machineId: string; instanceId: string }, port: number, exited: Promise<InstanceExit>, opts: WaitOptions, candidate: boolean): Promise<void> {
    const specs = checkSpecsFor(m.config, port);
    let cancel = () => {};
    const ready = new Promise<void>((resolve) => {
      if (specs.length > 0) {
        this.deps.markCandidate(ref.machineId, ref.instanceId);
        cancel = this.deps.onHealth((e) => {
          if (e.machineId === ref.machineId && e.instanceId === ref.instanceId && e.allPassing) resolve();
        });
        this.deps.monitor.watch({ ...ref, port }, specs);
      } else if (m.config.services.length > 0) {
        cancel = probeUntilOpen(this.host, port, () => {
          if (candidate) this.deps.markCandidate(ref.machineId, ref.instanceId);
          resolve();
        });
      } else {
        const timer = setTimeout(resolve, opts.minUpMs);
        cancel = () => clearTimeout(timer);
      }
    });
    try {
      await race(ref.machineId, ready, exited, opts.timeoutMs);
    } catch (err) {
      this.deps.forgetCandidate(ref.machineId, ref.instanceId);
      this.deps.monitor.unwatch(ref.machineId, ref.instanceId);
      throw err;
    } finally {
      cancel();
    }
  }

  /** Until a machine's current instance is ready (as waitReady, for an instance that is already its own). */
  async waitHealthy(m: Machine, exited: Promise<InstanceExit>, opts: WaitOptions): Promise<void> {
    const specs = checkSpecsFor(m.config, m.port ?? 0);
    if (specs.length === 0 || m.port === null) return this.untilReady(m, { machineId: m.id, instanceId: m.instanceId }, m.port ?? 0, exited, opts, false);
    const passing = () => {
      const st = this.deps.monitor.status(m.id, m.instanceId);
      return st.length > 0 && st.every((c) => c.status === 'passing');
    };
    if (passing()) return;
    let off = () => {};
    try {
      const ready = new Promise<void>((resolve) => {
        off = this.deps.onHealth((e) => e.machineId === m.id && e.instanceId === m.instanceId && e.allPassing && resolve());
        if (passing()) resolve();
      });
      await race(m.id, ready, exited, opts.timeoutMs);
    } finally {
      off();
    }
  }
}
