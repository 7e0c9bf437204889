import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { UserError } from '../../core/errors.js';
import { instanceDir, machineDir } from '../dirs.js';
import type { InstanceExit, InstanceRef, InstanceSpec, InstanceStatus, RuntimeDriver, StopOptions } from '../driver.js';
import { exitOf, instanceStatus, type ContainerJson } from './container-state.js';
import { EngineClient, isEngineStatus, type EngineError } from './engine.js';
import { LogFollower } from './log-follower.js';

const LABEL_MACHINE = 'hangar.machine';
const LABEL_INSTANCE = 'hangar.instance';
const LABEL_APP = 'hangar.app';

export interface DockerDriverOptions {
  /** Directory holding `<machine>/` (log files) and `<machine>/<instance>/` (log resume point). */
  root: string;
  /** The engine to talk to; by default the one `DOCKER_HOST` (or /var/run/docker.sock) names. */
  engine?: EngineClient;
  /**
   * Run docker-init as PID 1 (default true). Without it the command is PID 1, which the kernel shields
   * from every signal it has no handler for: `stop` with SIGTERM would always wait for the SIGKILL.
   */
  init?: boolean;
  /** Host paths every container sees, in `-v` syntax (`/host:/container[:ro]`). None by default. */
  binds?: string[];
  /** The Docker network `published` instances join (default: Docker's `bridge`). */
  network?: string;
  /** How long an exit waits for the last log lines to reach the files. */
  logDrainMs?: number;
  /** Delay before re-attaching after the connection to the engine broke. */
  retryMs?: number;
}

interface Watched {
  ref: InstanceRef;
  container: string;
  stopRequested: boolean;
  abort: AbortController;
  logs: LogFollower;
  exited: Promise<InstanceExit>;
}

const key = (r: InstanceRef) => `${r.machineId}/${r.instanceId}`;

/**
 * Runs each machine instance as a Docker container named `hangar-<machine>-<instance>`, labelled so
 * `list` finds them again, on the host network, with Docker's restart policy off (hangar's applies).
 * Exits are learnt from a per-container `wait`; logs are copied into the machine's files by a
 * LogFollower. Containers outlive the driver: a new one adopts them.
 */
export class DockerDriver implements RuntimeDriver {
  readonly kind = 'docker' as const;
  private readonly engine: EngineClient;
  private readonly watched = new Map<string, Watched>();
  private readonly events = new EventEmitter();

  constructor(private readonly opts: DockerDriverOptions) {
    mkdirSync(opts.root, { recursive: true });
    this.engine = opts.engine ?? new EngineClient();
  }

  private machineDir(machineId: string): string {
    return machineDir(this.opts.root, machineId);
  }

  private instanceDir(ref: InstanceRef): string {
    return instanceDir(this.opts.root, ref);
  }

  private containerName(ref: InstanceRef): string {
    this.instanceDir(ref); // validates both ids
    return `hangar-${ref.machineId}-${ref.instanceId}`;
  }

  logFiles(machineId: string) {
    const d = this.machineDir(machineId);
    return { stdout: join(d, 'stdout.log'), stderr: join(d, 'stderr.log') };
  }

  async start(spec: InstanceSpec): Promise<void> {
    const name = this.containerName(spec);
    const old = await this.inspect(name);
    if (old && instanceStatus(old).state === 'running') throw new Error(`instance ${key(spec)} is already running`);
    if (old) await this.engine.text('DELETE', `/containers/${old.Id}`, { query: { force: false } });
    const dir = this.instanceDir(spec);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    let id: string | undefined;
    try {
      id = await this.create(spec, name);
      await this.engine.text('POST', `/containers/${id}/start`).catch((err: unknown) => {
        throw startRefused(spec, err);
      });
    } catch (err) {
      if (id) await this.engine.text('DELETE', `/containers/${id}`, { query: { force: true } }).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    this.watch(spec, id);
  }

  private async create(spec: InstanceSpec, name: string): Promise<string> {
    // By id when hangar knows it: a tag that moved since must not change what a machine runs.
    const image = /^sha256:[0-9a-f]{64}$/.test(spec.image.digest) ? spec.image.digest : spec.image.ref;
    const publish = spec.publish ? `${spec.publish}/tcp` : undefined;
    const body = {
      Image: image,
      ...(spec.cmd.length > 0 ? { Cmd: spec.cmd } : {}),
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      Labels: { [LABEL_MACHINE]: spec.machineId, [LABEL_INSTANCE]: spec.instanceId, [LABEL_APP]: spec.appName },
      Tty: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(publish ? { ExposedPorts: { [publish]: {} } } : {}),
      HostConfig: {
        // Published: Docker's default bridge network, the port reachable on loopback only.
        ...(publish ? { NetworkMode: this.opts.network ?? 'bridge', PortBindings: { [publish]: [{ HostIp: '127.0.0.1', HostPort: String(spec.port) }] } } : { NetworkMode: 'host' }),
        RestartPolicy: { Name: 'no' },
        Init: this.opts.init ?? true,
        ...(this.opts.binds?.length ? { Binds: this.opts.binds } : {}),
      },
    };
    try {
      const res = await this.engine.json<{ Id: string }>('POST', '/containers/create', { query: { name }, body });
      return res.Id;
    } catch (err) {
      if (!isEngineStatus(err, 404) || !/no such image/i.test((err as EngineError).engineMessage)) throw err;
      throw new UserError({
        code: 'image_missing',
        kind: 'not_found',
        message: `image ${spec.image.ref} is not on this Docker Engine`,
        hint: 'rebuild the image (hangar deploy) or load it into the engine (docker load / docker build)',
      });
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
    // Following streams are unref'd so they never hold the daemon open; a caller waiting on a stop must.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await this.kill(w.container, opts.signal);
      const timer = new AbortController();
      const first = await Promise.race([w.exited, delay(opts.timeoutMs, 'timeout' as const, { signal: timer.signal }).catch(() => 'aborted' as const)]);
      timer.abort();
      if (first === 'timeout') await this.kill(w.container, 'SIGKILL');
      return await w.exited;
    } catch (err) {
      // The stop failed: an exit from now on is not one anybody asked for, and must be reported as such.
      w.stopRequested = false;
      throw err;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /** A container that is no longer running (409) or gone (404) has nothing left to signal. */
  private async kill(container: string, signal: NodeJS.Signals): Promise<void> {
    try {
      await this.engine.text('POST', `/containers/${container}/kill`, { query: { signal } });
    } catch (err) {
      if (!isEngineStatus(err, 404, 409)) throw err;
    }
  }

  async status(ref: InstanceRef): Promise<InstanceStatus> {
    const c = await this.inspect(this.containerName(ref));
    return c ? instanceStatus(c) : { state: 'missing' };
  }

  async adopt(ref: InstanceRef): Promise<InstanceStatus> {
    const c = await this.inspect(this.containerName(ref));
    if (!c) return { state: 'missing' };
    const st = instanceStatus(c);
    if (st.state === 'running' && !this.watched.has(key(ref))) this.watch(ref, c.Id);
    // Lines written between the last daemon's end and the exit still belong in the files.
    if (st.state === 'exited' && existsSync(this.instanceDir(ref))) await this.followLogs(ref, c.Id, false).done;
    return st;
  }

  async list(): Promise<InstanceRef[]> {
    return this.containers({ label: [LABEL_MACHINE] });
  }

  private async containers(filters: Record<string, string[]>): Promise<InstanceRef[]> {
    const found = await this.engine.json<Array<{ Labels: Record<string, string> | null }>>('GET', '/containers/json', {
      query: { all: 1, filters: JSON.stringify(filters) },
    });
    const out: InstanceRef[] = [];
    for (const c of found) {
      const machineId = c.Labels?.[LABEL_MACHINE];
      const instanceId = c.Labels?.[LABEL_INSTANCE];
      if (machineId && instanceId) out.push({ machineId, instanceId });
    }
    return out;
  }

  async remove(ref: InstanceRef): Promise<void> {
    const name = this.containerName(ref);
    const c = await this.inspect(name);
    if (c && instanceStatus(c).state === 'running') throw new Error(`instance ${key(ref)} is still running`);
    this.unwatch(key(ref));
    if (c) {
      try {
        await this.engine.text('DELETE', `/containers/${c.Id}`, { query: { force: false } });
      } catch (err) {
        if (!isEngineStatus(err, 404)) throw err;
      }
    }
    rmSync(this.instanceDir(ref), { recursive: true, force: true });
  }

  async removeMachine(machineId: string): Promise<void> {
    const dir = this.machineDir(machineId);
    for (const ref of await this.containers({ label: [`${LABEL_MACHINE}=${machineId}`] })) await this.remove(ref);
    rmSync(dir, { recursive: true, force: true });
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    this.events.on('exit', listener);
    return () => this.events.off('exit', listener);
  }

  async dispose(): Promise<void> {
    const following = [...this.watched.values()].map((w) => w.logs.done);
    for (const k of [...this.watched.keys()]) this.unwatch(k);
    await Promise.allSettled(following);
    this.events.removeAllListeners();
  }

  private unwatch(k: string): void {
    const w = this.watched.get(k);
    if (!w) return;
    w.abort.abort();
    w.logs.stop();
    this.watched.delete(k);
  }

  private followLogs(ref: InstanceRef, container: string, background: boolean): LogFollower {
    mkdirSync(this.instanceDir(ref), { recursive: true });
    return new LogFollower({
      engine: this.engine,
      container,
      files: this.logFiles(ref.machineId),
      stateFile: join(this.instanceDir(ref), 'log-since'),
      retryMs: this.opts.retryMs,
      background,
    });
  }

  private watch(ref: InstanceRef, container: string): void {
    const w: Watched = {
      ref: { machineId: ref.machineId, instanceId: ref.instanceId },
      container,
      stopRequested: false,
      abort: new AbortController(),
      logs: this.followLogs(ref, container, true),
      exited: undefined as unknown as Promise<InstanceExit>,
    };
    w.exited = this.waitForExit(w);
    this.watched.set(key(ref), w);
    w.exited.then(
      (exit) => {
        if (this.watched.get(key(w.ref)) !== w) return;
        this.watched.delete(key(w.ref));
        this.events.emit('exit', exit);
      },
      () => {}, // unwatched (dispose/remove): nobody is told
    );
  }

  private async waitForExit(w: Watched): Promise<InstanceExit> {
    const signal = w.abort.signal;
    for (;;) {
      try {
        await this.engine.json('POST', `/containers/${w.container}/wait`, { query: { condition: 'not-running' }, signal, unref: true });
        break;
      } catch (err) {
        if (signal.aborted) throw err;
        if (isEngineStatus(err, 404)) break;
        await delay(this.opts.retryMs ?? 1000, undefined, { signal, ref: false });
      }
    }
    const c = await this.inspectUntilAnswered(w.container, signal);
    const code = c ? exitOf(c.State.ExitCode) : { exitCode: null, signal: null };
    const drain = new AbortController();
    await Promise.race([w.logs.done, delay(this.opts.logDrainMs ?? 2000, undefined, { signal: drain.signal, ref: false }).catch(() => {})]);
    drain.abort();
    if (signal.aborted) throw new Error('unwatched');
    return { ...w.ref, ...code, requested: w.stopRequested, at: Date.now() };
  }

  /** The exit code must not be lost to an engine that stops answering right after the exit. */
  private async inspectUntilAnswered(container: string, signal: AbortSignal): Promise<ContainerJson | undefined> {
    for (;;) {
      try {
        return await this.inspect(container);
      } catch (err) {
        if (signal.aborted) throw err;
        await delay(this.opts.retryMs ?? 1000, undefined, { signal, ref: false });
      }
    }
  }

  private async inspect(container: string): Promise<ContainerJson | undefined> {
    try {
      return await this.engine.json<ContainerJson>('GET', `/containers/${encodeURIComponent(container)}/json`);
    } catch (err) {
      if (isEngineStatus(err, 404)) return undefined;
      throw err;
    }
  }
}

/**
 * The engine refused to start a container it created (400: the command is not in the image; 404: the
 * network is gone): a mistake in the machine's config or image, answered with the engine's reason.
 * Anything else (the engine failing) stays what it is.
 */
function startRefused(spec: InstanceSpec, err: unknown): unknown {
  if (!isEngineStatus(err, 400, 404)) return err;
  const e = err as EngineError;
  return new UserError({
    code: 'container_start_failed',
    kind: e.status === 404 ? 'not_found' : 'invalid',
    message: `the Docker Engine could not start machine ${spec.machineId} from image ${spec.image.ref}: ${e.engineMessage}`,
    hint: 'check the command (config.init.cmd, [processes]) and that it exists in the image',
    cause: err,
  });
}
