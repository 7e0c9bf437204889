import type { Deployment, DeployEvent } from '../core/deploy.js';
import type { LogLevel } from '../core/log-line.js';
import type { MachineEvent } from '../core/types.js';

/**
 * What platform lines say. Pure: a recorded machine event, a check's new status or a deploy event in,
 * the level and message of each line out. The wording follows what `fly logs` prints where it has an
 * equivalent ("Machine started", "Health check … is now passing").
 */
export interface Said {
  level: LogLevel;
  message: string;
}

/** Longest check output or error text kept on one line. */
export const MAX_DETAIL = 200;

/** One line of reasonable length: whitespace (newlines included) collapsed, long text cut with an ellipsis. */
export function oneLine(text: string, max = MAX_DETAIL): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** argv as one would type it in a shell: arguments with spaces or quotes single-quoted. */
export function shellWords(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

const info = (message: string): Said => ({ level: 'info', message });
const detail = (e: Pick<MachineEvent, 'message'>) => (e.message ? `: ${oneLine(e.message)}` : '');

/** How an exit reads: its code, else its signal. */
export function exitText(e: { exitCode?: number | null; signal?: string | null }): string {
  if (e.exitCode !== undefined && e.exitCode !== null) return `exited with code ${e.exitCode}`;
  if (e.signal) return `exited on signal ${e.signal}`;
  return 'exited';
}

/** The `runner` lines of one recorded machine event (an exit that schedules a restart says both). */
export function machineEventLines(e: MachineEvent): Said[] {
  const by = e.source === 'user' ? '' : ' (by hangar)';
  switch (`${e.type}:${e.status}`) {
    case 'launch:created':
      return [info('Machine created')];
    case 'start:starting':
      return [info(`Starting machine${by}`)];
    case 'start:started':
      return [info(`Machine started${detail(e)}`)];
    case 'start:waiting':
      return [{ level: 'warn', message: `Start deferred${detail(e)}` }];
    case 'start:failed':
      return [{ level: 'error', message: `Machine failed to start${detail(e)}` }];
    case 'stop:stopping':
      return [info(`Stopping machine${by}`)];
    case 'exit:stopped':
      return [info(`Machine ${exitText(e)}; stopped`)];
    case 'exit:restarting':
      return [{ level: 'error', message: `Machine ${exitText(e)}` }, info(`Restart scheduled${detail(e)}`)];
    case 'exit:failed':
      return [{ level: 'error', message: `Machine ${exitText(e)}` }, { level: 'error', message: `Machine failed${detail(e)}` }];
    case 'update:replacing':
      return [info('Updating machine: replacing its instance')];
    case 'update:updated':
      return [info('Machine config updated')];
    case 'update:started':
      return [info(`Machine switched to its new instance${detail(e)}`)];
    case 'destroy:destroying':
      return [info('Destroying machine')];
    case 'destroy:destroyed':
      return [info('Machine destroyed')];
    default:
      // A new kind of event still shows, in its raw words.
      return [info(`${e.type} ${e.status}${detail(e)}`)];
  }
}

/** Why a signal went to an instance, from the machine's state when it was sent. */
export function signalLines(s: { signal: string; timeoutMs: number; escalated: boolean; state: string; instanceId: string }): Said[] {
  const why = s.state === 'stopping' ? 'to stop the machine' : s.state === 'destroying' ? 'to destroy the machine' : `to retire instance ${s.instanceId}`;
  const out = [info(`Sent ${s.signal} ${why}`)];
  if (s.escalated) out.push({ level: 'warn', message: `Instance still running after ${s.timeoutMs} ms (kill_timeout): sent SIGKILL` });
  return out;
}

/** The `health` line of a check whose status changed. */
export function healthLine(c: { name: string; status: string; output: string }): Said {
  if (c.status === 'passing') return info(`Health check ${c.name} is now passing`);
  return { level: 'warn', message: `Health check ${c.name} is now ${c.status === 'critical' ? 'failing' : c.status}: ${oneLine(c.output)}` };
}

/**
 * The `deploy` lines of one deploy event; `machineId` set for a machine's outcome. Release-command
 * output is left out (the release command's machine output already is `app` lines).
 */
export function deployEventLines(d: Pick<Deployment, 'releaseVersion'>, e: DeployEvent): Array<Said & { machineId?: string }> {
  const v = `v${d.releaseVersion}`;
  switch (e.type) {
    case 'phase':
      return [info(`${v} ${e.phase}: ${oneLine(e.message, 400)}`)];
    case 'machine':
      // The steps of an in-place update are the runner's own lines already (started, switched, retired).
      if (e.step) return [];
      return [{ level: e.outcome === 'failed' ? 'error' : 'info', message: `${v} machine ${e.outcome}${e.message ? `: ${oneLine(e.message)}` : ''}`, machineId: e.machineId }];
    case 'warning':
      return [{ level: 'warn', message: `${v} ${oneLine(e.message, 400)}` }];
    case 'decision':
      return [info(`${v} canary step ${e.step} at weight ${e.weight}: ${e.verdict} (${oneLine(e.reason)})`)];
    case 'done':
      return [{ level: e.status === 'complete' ? 'info' : e.status === 'rolled_back' ? 'warn' : 'error', message: `${v} ${e.status}: ${oneLine(e.message, 400)}` }];
    case 'log':
      return [];
  }
}
