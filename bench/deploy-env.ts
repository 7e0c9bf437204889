/**
 * The real things bench:deploy runs against: a `hangar server` on ephemeral loopback ports with a temp
 * HANGAR_HOME, the `hangar` CLI as a child process, and the echo app started bare to time its boot.
 * Every process started here is tracked by pid and ended by `dispose()`, which also removes the temp
 * directories — on success, on failure and on Ctrl-C alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { runCli, type CliRun } from './cli-run.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Repository root (the bench runs from dist/bench/). */
export const ROOT = resolve(new URL('.', import.meta.url).pathname, existsSync(new URL('../../package.json', import.meta.url)) ? '../..' : '..');
export const BIN = join(ROOT, 'bin', 'hangar.js');
export const ECHO_SERVER = join(ROOT, 'test', 'fixtures', 'echo-app', 'server.js');

/** A CLI run; its times are the wall clock (Date.now()). */
export type CliResult = CliRun;

/** One daemon and everything the bench started around it. */
export class BenchEnv {
  readonly home = mkdtempSync(join(tmpdir(), 'hangar-bench-deploy-'));
  readonly tempDirs: string[] = [this.home];
  readonly apps = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  /** Set by dispose(): nothing new is started after it (a CLI started then could outlive the bench). */
  private closing = false;
  private daemon?: ChildProcess;
  private daemonOutput = '';
  private info?: { api: string; proxy: string };
  private token = '';
  readonly env: NodeJS.ProcessEnv;

  constructor() {
    const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: this.home };
    delete env.HANGAR_API_URL;
    delete env.HANGAR_API_TOKEN;
    this.env = env;
  }

  get stopping(): boolean {
    return this.closing;
  }
  get apiUrl(): string {
    return this.info!.api;
  }
  get proxyUrl(): URL {
    return new URL(this.info!.proxy);
  }

  /** Starts the daemon and waits (20 s deadline) until it has written its daemon.json. */
  async start(): Promise<void> {
    const proc = spawn(process.execPath, [BIN, 'server', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0'], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = proc;
    // Keep only the tail: the daemon logs every request.
    const keep = (d: Buffer) => (this.daemonOutput = (this.daemonOutput + d.toString()).slice(-8000));
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    const file = join(this.home, 'daemon.json');
    await until(20_000, 'the daemon to start', () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the daemon exited: ${this.daemonOutput}`);
      if (!existsSync(file)) return undefined;
      const info = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; api: string; proxy: string };
      return info.pid === proc.pid ? info : undefined;
    }).then((info) => (this.info = info));
    this.token = readFileSync(join(this.home, 'token'), 'utf8').trim();
  }

  /** A JSON API call; throws on a non-2xx status with the body. */
  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.apiUrl + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Runs the hangar CLI without blocking the event loop (the load generator shares it); killed after `timeoutMs`. */
  cli(args: string[], timeoutMs = 120_000): Promise<CliResult> {
    if (this.closing) return Promise.reject(new Error('the bench is stopping'));
    return runCli({ bin: BIN, cwd: ROOT, env: this.env, args, timeoutMs, children: this.children, clock: Date.now });
  }

  /**
   * Boot + first passing check of the bare echo app, `runs` times: spawn `node server.js` with a free
   * PORT, probe GET /health every 2 ms, stop at the first 200. Returns each run's milliseconds.
   */
  async bootTimes(appDir: string, runs: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < runs; i++) {
      if (this.closing) throw new Error('the bench is stopping');
      const port = await freePort();
      const t0 = performance.now();
      const p = spawn(process.execPath, ['server.js'], { cwd: appDir, env: { PATH: process.env.PATH, PORT: String(port), MESSAGE: 'boot' }, stdio: 'ignore' });
      this.children.add(p);
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      try {
        await until(10_000, 'the echo app to answer /health', async () => ((await probe(port)) === 200 ? true : undefined), 2);
        out.push(performance.now() - t0);
      } finally {
        p.kill('SIGKILL');
        await exited;
        this.children.delete(p);
      }
    }
    return out;
  }

  /** When the runtime spawned an instance (its instance.json), wall clock ms; undefined if unknown. */
  spawnedAt(machineId: string, instanceId: string): number | undefined {
    try {
      const t = (JSON.parse(readFileSync(join(this.home, 'machines', machineId, instanceId, 'instance.json'), 'utf8')) as { startedAt?: number }).startedAt;
      return typeof t === 'number' ? t : undefined;
    } catch {
      return undefined;
    }
  }

  /** Ends everything, in order: CLI children, the apps (through the API), the daemon, stray machines, temp dirs. */
  async dispose(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const c of this.children) c.kill('SIGKILL');
    if (this.info && this.daemon?.exitCode === null) {
      for (const app of this.apps) await this.api('DELETE', `/v1/apps/${app}?force=true`).catch((err) => console.error(`cleanup: could not destroy ${app}: ${(err as Error).message}`));
    }
    const d = this.daemon;
    if (d && d.exitCode === null && d.signalCode === null) {
      const gone = new Promise((r) => d.once('exit', r));
      d.kill('SIGTERM');
      const timer = setTimeout(() => d.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    }
    const stray = killMachineGroups(this.home);
    if (stray > 0) console.error(`cleanup: killed ${stray} machine process group(s) the daemon left running`);
    for (const dir of this.tempDirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** Last resort: SIGKILL every live process group recorded in HANGAR_HOME/machines/<id>/<instance>/instance.json. */
function killMachineGroups(home: string): number {
  const root = join(home, 'machines');
  if (!existsSync(root)) return 0;
  let killed = 0;
  for (const m of readdirSync(root)) {
    let instances: string[] = [];
    try {
      instances = readdirSync(join(root, m));
    } catch {
      continue;
    }
    for (const i of instances) {
      try {
        const pid = Number((JSON.parse(readFileSync(join(root, m, i, 'instance.json'), 'utf8')) as { pid: number }).pid);
        if (!(pid > 0)) continue;
        process.kill(-pid, 0); // throws when the group is gone
        process.kill(-pid, 'SIGKILL');
        killed++;
      } catch {
        // no file, or the group is gone already
      }
    }
  }
  return killed;
}

/** GET /health on loopback; the status, or 0 when the connection failed. */
function probe(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Calls `fn` every `everyMs` until it returns a value, throwing after `ms`. */
export async function until<T>(ms: number, what: string, fn: () => T | undefined | Promise<T | undefined>, everyMs = 50): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
