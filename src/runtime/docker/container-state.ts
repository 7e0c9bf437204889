import { constants as osConstants } from 'node:os';
import { assertNever } from '../../core/errors.js';
import type { InstanceStatus } from '../driver.js';

/** The part of `GET /containers/{id}/json` hangar reads. */
export interface ContainerJson {
  Id: string;
  State: { Status: string; Pid: number; ExitCode: number; StartedAt: string };
}

/** `State.Status` as the engine documents it. */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

const STATUSES: readonly string[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'] satisfies ContainerStatus[];

function parseStatus(s: string): ContainerStatus {
  if (STATUSES.includes(s)) return s as ContainerStatus;
  throw new Error(`docker engine reported an unknown container state ${JSON.stringify(s)}`);
}

/** Maps an inspected container onto the driver's view of an instance. */
export function instanceStatus(c: ContainerJson): InstanceStatus {
  const status = parseStatus(c.State.Status);
  switch (status) {
    case 'running':
    case 'paused':
    case 'restarting': {
      const st: InstanceStatus = { state: 'running', startedAt: Date.parse(c.State.StartedAt) };
      if (c.State.Pid > 0) st.pid = c.State.Pid;
      return st;
    }
    case 'created':
      // Never started (the start call failed or the daemon died in between): nothing ran, no code.
      return { state: 'exited', exitCode: null, signal: null };
    case 'removing':
    case 'exited':
    case 'dead':
      return { state: 'exited', ...exitOf(c.State.ExitCode) };
    default:
      return assertNever(status);
  }
}

/**
 * The exit as the process runtime reports it: a command killed by signal n exits 128+n (the engine
 * and docker-init follow the same shell convention), so the signal is derived from the code.
 */
export function exitOf(exitCode: number): { exitCode: number; signal: string | null } {
  return { exitCode, signal: exitCode > 128 ? signalName(exitCode - 128) : null };
}

function signalName(n: number): string | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return null;
}
