/**
 * Process and temp-dir bookkeeping for bench:proxy. Every child is spawned as the leader of its own
 * process group, so nginx's workers or a machine's node child go with it, and is killed through that
 * group id — never by name. `sweep()` is synchronous so it can also run from a process 'exit' handler.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SpawnSpec {
  cmd: string;
  args: string[];
  /** File that receives the child's stdout and stderr. */
  log: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class Reaper {
  private readonly groups = new Set<number>();
  private readonly dirs = new Set<string>();
  private readonly sweepers: Array<() => void> = [];

  /** A temp dir removed by `sweep()`. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  /** Spawns `spec` detached (own process group), output to its log file; registered at once. */
  spawn(spec: SpawnSpec): ChildProcess {
    const fd = openSync(spec.log, 'a');
    try {
      const child = spawn(spec.cmd, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', fd, fd], detached: true });
      if (child.pid !== undefined) this.groups.add(child.pid);
      child.on('error', () => undefined); // ENOENT surfaces through exitCode/readiness checks
      return child;
    } finally {
      closeSync(fd);
    }
  }

  /** Extra synchronous cleanup (e.g. killing machine process groups), run by `sweep()`. */
  onSweep(fn: () => void): void {
    this.sweepers.push(fn);
  }

  /** SIGTERM the child's group, wait up to `graceMs` for the leader to exit, then SIGKILL the group. */
  async stop(child: ChildProcess, graceMs = 3000): Promise<void> {
    const pid = child.pid;
    if (pid === undefined || !this.groups.has(pid)) return;
    if (isRunning(child)) {
      signalGroup(pid, 'SIGTERM');
      const timedOut = new Promise<void>((r) => setTimeout(r, graceMs).unref());
      await Promise.race([exited(child), timedOut]);
    }
    // Leftover members (nginx workers) die with the group; only now is the id forgotten.
    signalGroup(pid, 'SIGKILL');
    this.groups.delete(pid);
  }

  /** Kills every registered group, runs the extra sweepers, removes the temp dirs. Idempotent. */
  sweep(): void {
    for (const pid of this.groups) signalGroup(pid, 'SIGKILL');
    this.groups.clear();
    for (const fn of this.sweepers.splice(0)) {
      try {
        fn();
      } catch {
        // best effort: the rest must still run
      }
    }
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    this.dirs.clear();
  }

  /** Sweeps on any exit, including Ctrl-C and SIGTERM (which would otherwise skip 'exit' handlers). */
  installExitHandlers(): void {
    process.on('exit', () => this.sweep());
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      process.once(sig, () => {
        console.error(`bench:proxy: got ${sig}, cleaning up`);
        this.sweep();
        process.exit(code);
      });
    }
  }
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves with the exit code (null after a signal, -1 if it never started) once `child` has ended. */
export function exited(child: ChildProcess): Promise<number | null> {
  if (!isRunning(child)) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
}

export function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // gone already
  }
}

/** Polls `fn` until it returns a value (not undefined), or throws after `ms` naming what it waited for. */
export async function waitUntil<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last `n` lines of a log file, for error messages. */
export function tail(file: string, n = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}
