import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { UserError } from '../../core/errors.js';
import { instanceDir, machineDir } from '../dirs.js';
import type { InstanceExit, InstanceRef, InstanceSpec, InstanceStatus, RuntimeDriver, StopOptions } from '../driver.js';
import { groupAlive, isSameProcessAlive, processStartTime, signalGroup } from './proc.js';

/**
 * The wrapper is the instance's process-group leader. It runs the command as a child and records the
 * exit code in a file, so a daemon that restarted (even after kill -9) still learns how an instance it
 * did not spawn ended. Traps (not ignores) keep the wrapper alive through the stop signal while the
 * command, whose handlers are reset on exec, receives it normally.
 */
const WRAPPER = [
  'trap ":" INT TERM HUP QUIT USR1 USR2',
  'echo $$ > "$HANGAR_RUN_DIR/pid"',
  '"$@"',
  'code=$?',
  'echo "$code" > "$HANGAR_RUN_DIR/exit.tmp" && mv "$HANGAR_RUN_DIR/exit.tmp" "$HANGAR_RUN_DIR/exit"',
  'exit "$code"',
].join('\n');


interface InstanceFile {
  pid: number;
  procStart: string;
  startedAt: number;
}

interface Watched {
  ref: InstanceRef;
  info: InstanceFile;
  stopRequested: boolean;
  exited: Promise<InstanceExit>;
  resolveExit: (e: InstanceExit) => void;
  poll?: NodeJS.Timeout;
}

export interface ProcessDriverOptions {
  /** Directory holding `<machine>/` (logs) and `<machine>/<instance>/` (pid, exit code) trees. */
  root: string;
  /** How often adopted instances (not our children) are checked for exit. */
  pollIntervalMs?: number;
}

const key = (r: InstanceRef) => `${r.machineId}/${r.instanceId}`;

/** Runs each machine instance as a process group on this host. */
export class ProcessDriver implements RuntimeDriver {
  readonly kind = 'process' as const;
  private readonly watched = new Map<string, Watched>();
  private readonly events = new EventEmitter();
  private readonly pollMs: number;

  constructor(private readonly opts: ProcessDriverOptions) {
    mkdirSync(opts.root, { recursive: true });
    this.pollMs = opts.pollIntervalMs ?? 250;
  }

  private machineDir(machineId: string): string {
    return machineDir(this.opts.root, machineId);
  }

  private runDir(ref: InstanceRef): string {
    return instanceDir(this.opts.root, ref);
  }

  logFiles(machineId: string) {
    const d = this.machineDir(machineId);
    return { stdout: join(d, 'stdout.log'), stderr: join(d, 'stderr.log') };
  }

  async start(spec: InstanceSpec): Promise<void> {
    const cwd = spec.image.rootfs;
    if (!cwd || !existsSync(cwd)) {
      throw new UserError({
        code: 'image_missing',
        message: `image ${spec.image.ref} has no directory on this host (${cwd ?? 'none'})`,
        hint: 'rebuild the image (hangar deploy) or run the machine from a directory',
      });
    }
    if (spec.cmd.length === 0) {
      throw new UserError({ code: 'no_command', message: `machine ${spec.machineId} has no command to run`, hint: 'set [processes] in hangar.toml or pass a command' });
    }
    if ((await this.status(spec)).state === 'running') throw new Error(`instance ${key(spec)} is already running`);
    const dir = this.runDir(spec);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    // Written before the spawn: if the daemon dies before it learns the pid, the next one finds the
    // instance through the wrapper's own pid file instead of leaving an orphan.
    writeJsonAtomic(join(dir, 'instance.json'), { pid: 0, procStart: '', startedAt: Date.now() });
    const child = this.spawnWrapper(spec, cwd, dir);
    const pid = child.pid;
    if (pid === undefined) {
      const e = await new Promise<Error>((r) => child.once('error', r));
      throw new Error(`cannot start machine ${spec.machineId}: ${e.message}`);
    }
    child.unref();
    const info: InstanceFile = { pid, procStart: processStartTime(pid) ?? '', startedAt: Date.now() };
    writeJsonAtomic(join(dir, 'instance.json'), info);
    const w = this.watch({ machineId: spec.machineId, instanceId: spec.instanceId }, info);
    child.once('exit', () => this.finish(w));
    await this.wrapperReady(dir, w);
  }

  /** Until the wrapper has installed its traps (it then writes its pid), a stop signal would kill it. */
  private async wrapperReady(dir: string, w: Watched): Promise<void> {
    let done = false;
    void w.exited.then(() => (done = true));
    for (let i = 0; i < 1000 && !done; i++) {
      if (existsSync(join(dir, 'pid'))) return;
      await delay(2);
    }
  }

  private spawnWrapper(spec: InstanceSpec, cwd: string, dir: string): ChildProcess {
    const logs = this.logFiles(spec.machineId);
    const out = openSync(logs.stdout, 'a');
    const err = openSync(logs.stderr, 'a');
    try {
      return spawn('/bin/sh', ['-c', WRAPPER, 'hangar-machine', ...spec.cmd], {
        cwd,
        env: { ...spec.env, HANGAR_RUN_DIR: dir },
        detached: true,
        stdio: ['ignore', out, err],
      });
    } finally {
      closeSync(out);
      closeSync(err);
    }
  }

  async stop(ref: InstanceRef, opts: StopOptions): Promise<InstanceExit | undefined> {
    let w = this.watched.get(key(ref));
    if (!w) {
      const st = await this.adopt(ref);
      if (st.state !== 'running') return undefined;
      w = this.watched.get(key(ref))!;
    }
    w.stopRequested = true;
    const pgid = w.info.pid;
    // Instances are unref'd so they never hold the daemon open; a caller waiting on a stop must.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      return await this.signalAndWait(w, pgid, opts);
    } catch (err) {
      // The stop failed: an exit from now on is not one anybody asked for, and must be reported as such.
      w.stopRequested = false;
      throw err;
    } finally {
      clearInterval(keepAlive);
    }
  }

  private async signalAndWait(w: Watched, pgid: number, opts: StopOptions): Promise<InstanceExit> {
    signalGroup(pgid, opts.signal);
    const timer = new AbortController();
    const first = await Promise.race([w.exited, delay(opts.timeoutMs, 'timeout' as const, { signal: timer.signal }).catch(() => 'aborted' as const)]);
    timer.abort();
    if (first === 'timeout') signalGroup(pgid, 'SIGKILL');
    const exit = await w.exited;
    await reapGroup(pgid);
    return exit;
  }

  async status(ref: InstanceRef): Promise<InstanceStatus> {
    const info = this.readInstance(ref);
    if (!info) return { state: 'missing' };
    if (info.pid > 0 && isSameProcessAlive(info.pid, info.procStart)) {
      return { state: 'running', pid: info.pid, startedAt: info.startedAt };
    }
    return { state: 'exited', ...this.readExit(ref) };
  }

  async adopt(ref: InstanceRef): Promise<InstanceStatus> {
    const st = await this.status(ref);
    if (st.state === 'running' && !this.watched.has(key(ref))) {
      const info = this.readInstance(ref)!;
      const w = this.watch(ref, info);
      w.poll = setInterval(() => {
        if (!isSameProcessAlive(info.pid, info.procStart)) this.finish(w);
      }, this.pollMs);
      w.poll.unref();
    }
    return st;
  }

  async list(): Promise<InstanceRef[]> {
    const out: InstanceRef[] = [];
    for (const m of readdirSync(this.opts.root, { withFileTypes: true })) {
      if (!m.isDirectory()) continue;
      for (const i of readdirSync(join(this.opts.root, m.name), { withFileTypes: true })) {
        if (i.isDirectory()) out.push({ machineId: m.name, instanceId: i.name });
      }
    }
    return out;
  }

  async remove(ref: InstanceRef): Promise<void> {
    if ((await this.status(ref)).state === 'running') throw new Error(`instance ${key(ref)} is still running`);
    this.unwatch(key(ref));
    rmSync(this.runDir(ref), { recursive: true, force: true });
  }

  async removeMachine(machineId: string): Promise<void> {
    for (const ref of await this.list()) if (ref.machineId === machineId) await this.remove(ref);
    rmSync(this.machineDir(machineId), { recursive: true, force: true });
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.events.on('exit', listener);
    return () => this.events.off('exit', listener);
  }

  async dispose(): Promise<void> {
    for (const k of [...this.watched.keys()]) this.unwatch(k);
    this.events.removeAllListeners();
  }

  private unwatch(k: string): void {
    const w = this.watched.get(k);
    if (w?.poll) clearInterval(w.poll);
    this.watched.delete(k);
  }

  private watch(ref: InstanceRef, info: InstanceFile): Watched {
    let resolveExit!: (e: InstanceExit) => void;
    const exited = new Promise<InstanceExit>((r) => (resolveExit = r));
    const w: Watched = { ref, info, stopRequested: false, exited, resolveExit };
    this.watched.set(key(ref), w);
    return w;
  }

  private finish(w: Watched): void {
    if (this.watched.get(key(w.ref)) !== w) return;
    this.unwatch(key(w.ref));
    const exit: InstanceExit = { ...w.ref, ...this.readExit(w.ref), requested: w.stopRequested, at: Date.now() };
    // Leftover children of a command that exited on its own are not allowed to linger.
    try {
      signalGroup(w.info.pid, 'SIGKILL');
    } catch {
      // EPERM: what is left of the group is not ours to kill; the exit is reported all the same.
    }
    w.resolveExit(exit);
    this.events.emit('exit', exit);
  }

  private readInstance(ref: InstanceRef): InstanceFile | undefined {
    const dir = this.runDir(ref);
    let info: InstanceFile;
    try {
      info = JSON.parse(readFileSync(join(dir, 'instance.json'), 'utf8')) as InstanceFile;
    } catch {
      return undefined;
    }
    if (info.pid > 0) return info;
    const pid = Number(readFileSafe(join(dir, 'pid')));
    if (!Number.isInteger(pid) || pid <= 0) return info;
    return { ...info, pid, procStart: processStartTime(pid) ?? '' };
  }

  private readExit(ref: InstanceRef): { exitCode: number | null; signal: string | null } {
    const text = readFileSafe(join(this.runDir(ref), 'exit'));
    // No exit file: the wrapper itself was killed (SIGKILL after a stop timeout, or by someone else).
    if (text === '') return { exitCode: null, signal: 'SIGKILL' };
    const code = Number(text);
    if (!Number.isInteger(code)) return { exitCode: null, signal: null };
    return { exitCode: code, signal: code > 128 ? signalName(code - 128) : null };
  }
}

async function reapGroup(pgid: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGKILL');
  for (let i = 0; i < 100 && groupAlive(pgid); i++) await delay(10);
}

function signalName(n: number): string | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return null;
}

function writeJsonAtomic(file: string, value: unknown): void {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
