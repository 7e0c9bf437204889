import { readFileSync } from 'node:fs';

/** Linux /proc helpers: identify a process by (pid, start time) so a reused pid is never mistaken for ours. */

interface ProcStat {
  state: string;
  startTime: string;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, startTime: rest[19]! };
  } catch {
    return undefined;
  }
}

/** The kernel's start time of a process (clock ticks since boot), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

/** True when `pid` is alive (not a zombie) and is the same process that started at `startTime`. */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  const st = readStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return false;
  return st.startTime === startTime;
}

/** Signals a whole process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** True while any process is left in the group. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
