import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../src/images/stream.js';
import { waitUntil } from './runtime-contract.js';

export { waitUntil };

// Daemons started by tests never pull: a reference the engine lacks must not reach a public registry.
// A test that pulls from its own loopback registry opts back in with HANGAR_DOCKER_PULL=missing.
process.env.HANGAR_DOCKER_PULL ??= 'never';

/** Repository root (tests run from dist/test/). */
export const ROOT = resolve(new URL('.', import.meta.url).pathname, existsSync(new URL('../../package.json', import.meta.url)) ? '../..' : '..');
export const BIN = join(ROOT, 'bin', 'hangar.js');
export const FIXTURE_APP = join(ROOT, 'test', 'fixtures', 'echo-app');

interface TestContext {
  after(fn: () => unknown): void;
}

export interface TestDaemon {
  home: string;
  url: string;
  proxyUrl: string;
  /** https://127.0.0.1:PORT of the proxy's TLS listener. */
  proxyTlsUrl: string;
  token: string;
  proc: ChildProcess;
  env: NodeJS.ProcessEnv;
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  cli(args: string[], opts?: { cwd?: string; input?: string }): { status: number; stdout: string; stderr: string };
  /** Like cli, without blocking the test's event loop (for load running alongside). */
  cliAsync(args: string[], opts?: { cwd?: string }): Promise<{ status: number; stdout: string; stderr: string }>;
  /** SIGKILL the daemon (machines keep running) and wait until it is gone. */
  kill9(): Promise<void>;
  /** Start a new daemon on the same HANGAR_HOME. */
  restart(): Promise<TestDaemon>;
  stop(): Promise<void>;
  /** What the daemon has printed so far (for a failing test's message). */
  output(): string;
}

/**
 * Starts a real `hangar server` on ephemeral ports with a temp HANGAR_HOME. Cleanup (registered at once)
 * stops the daemon and kills every machine process group it started, by pid, then removes the home.
 */
export async function startDaemon(t: TestContext, opts: { env?: Record<string, string>; home?: string; args?: string[] } = {}): Promise<TestDaemon> {
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'hangar-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home, HANGAR_RESTART_BACKOFF: '20ms', ...opts.env };
  delete env.HANGAR_API_URL;
  delete env.HANGAR_API_TOKEN;
  const proc = spawn(process.execPath, [BIN, 'server', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--proxy-tls-listen', '127.0.0.1:0', ...workersArgs(), ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const daemons = DAEMONS.get(home) ?? [];
  daemons.push(proc);
  DAEMONS.set(home, daemons);
  // Hooks run in registration order: the first daemon of a home stops every daemon started on it
  // (restarts included) before its machines are killed and the home is removed.
  t.after(async () => {
    for (const p of DAEMONS.get(home) ?? []) await stopProc(p);
    if (!opts.home) {
      DAEMONS.delete(home);
      killMachines(home);
      rmSync(home, { recursive: true, force: true });
    }
  });
  const infoFile = join(home, 'daemon.json');
  await waitUntil(
    () => {
      if (proc.exitCode !== null) throw new Error(`daemon exited: ${output}`);
      return existsSync(infoFile) && JSON.parse(readFileSync(infoFile, 'utf8')).pid === proc.pid;
    },
    15_000,
    'the daemon to start',
  ).catch((err) => {
    throw new Error(`${err.message}\n${output}`);
  });
  const info = JSON.parse(readFileSync(infoFile, 'utf8'));
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const d: TestDaemon = {
    home,
    url: info.api,
    proxyUrl: info.proxy,
    proxyTlsUrl: info.proxy_tls,
    token,
    proc,
    env,
    api: (method, path, body, headers = {}) => apiCall(info.api, token, method, path, body, headers),
    cli(args, o = {}) {
      const r = spawnSync(process.execPath, [BIN, ...args], { env, cwd: o.cwd ?? ROOT, input: o.input, encoding: 'utf8', timeout: 60_000 });
      return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    },
    cliAsync: (args, o = {}) => cliAsync(env, args, o.cwd),
    async kill9() {
      proc.kill('SIGKILL');
      if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
    },
    restart: () => startDaemon(t, { env: opts.env, home, args: opts.args }),
    async stop() {
      proc.kill('SIGTERM');
      if (proc.exitCode === null && proc.signalCode === null) await new Promise((r) => proc.once('exit', r));
    },
    output: () => output,
  };
  return d;
}

/**
 * Test daemons run their proxy in-process (quicker to start) unless HANGAR_PROXY_WORKERS says how many
 * workers: the proxy's own test files set it, so they run against the multi-worker proxy.
 */
function workersArgs(): string[] {
  return process.env.HANGAR_PROXY_WORKERS === undefined ? ['--proxy-workers', '0'] : [];
}

/** One API call with the token; the body parsed when it is JSON. */
export async function apiCall<T = any>(base: string, token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

/** Runs the CLI without blocking the test's event loop; killed after two minutes. */
export function cliAsync(env: NodeJS.ProcessEnv, args: string[], cwd = ROOT): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => (stdout += c));
    p.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr });
    });
  });
}

const DAEMONS = new Map<string, ChildProcess[]>();

async function stopProc(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
}

/** Kills every machine process group recorded under HANGAR_HOME (by pid from the instance files). */
export function killMachines(home: string): void {
  const root = join(home, 'machines');
  if (!existsSync(root)) return;
  for (const m of readdirSync(root)) {
    const mdir = join(root, m);
    let entries: string[] = [];
    try {
      entries = readdirSync(mdir);
    } catch {
      continue;
    }
    for (const i of entries) {
      for (const f of ['instance.json', 'pid']) {
        try {
          const text = readFileSync(join(mdir, i, f), 'utf8');
          const pid = f === 'pid' ? Number(text.trim()) : JSON.parse(text).pid;
          if (pid > 0) process.kill(-pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  }
}

/**
 * A machine config for the echo fixture app, for API-level tests. It has one HTTP service (as Fly's
 * proxy, hangar's routes only to machines with a service) unless `extra` says otherwise.
 */
export function echoConfig(image: string, extra: Record<string, unknown> = {}) {
  return { image, init: { cmd: ['node', 'server.js'] }, env: { MESSAGE: 'hi' }, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }], ...extra };
}

/** Uploads a directory (the echo fixture by default) as an image through the API; returns its ref. */
export async function uploadEcho(d: Pick<TestDaemon, 'url' | 'token'>, app: string, dir = FIXTURE_APP, tag = `t-${Date.now()}`): Promise<string> {
  const packed = packDirectory(dir);
  const res = await fetch(`${d.url}/v1/apps/${app}/images?tag=${tag}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': SNAPSHOT_CONTENT_TYPE },
    body: Readable.toWeb(packed.stream) as unknown as RequestInit['body'],
    duplex: 'half',
  } as RequestInit);
  const body = (await res.json()) as { ref: string };
  if (res.status !== 201) throw new Error(`upload failed: ${JSON.stringify(body)}`);
  return body.ref;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text() };
}

/**
 * A temp app directory: the echo fixture's server.js plus the given hangar.toml (removed after the test).
 * `health` adds an HTTP check on /health to the web service.
 */
export function appDir(t: { after(fn: () => unknown): void }, toml: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-app-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'server.js'), readFileSync(join(FIXTURE_APP, 'server.js')));
  writeFileSync(join(dir, 'worker.js'), readFileSync(join(FIXTURE_APP, 'worker.js')));
  writeFileSync(join(dir, 'hangar.toml'), toml);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

export const WEB_TOML = (app: string, extra = '') => `app = "${app}"
primary_region = "ams"
kill_timeout = 3

[env]
MESSAGE = "v1"

[processes]
web = "node server.js"

[http_service]
internal_port = 8080
processes = ["web"]

[[http_service.checks]]
grace_period = "0s"
interval = "100ms"
timeout = "1s"
path = "/health"
${extra}`;

/**
 * WEB_TOML plus a `worker` process group that no service serves (it never listens): what a real app
 * looks like, and what deploy-under-load tests use, so traffic reaching a worker would show as failures.
 */
export const WEB_WORKER_TOML = (app: string, extra = '') => WEB_TOML(app, extra).replace('web = "node server.js"\n', 'web = "node server.js"\nworker = "node worker.js"\n');

/** The machines of one process group, from the API's machine list. */
export const inGroup = <M extends { process_group: string }>(ms: M[], group: string): M[] => ms.filter((m) => m.process_group === group);

/**
 * Sends requests through the proxy (keep-alive, one at a time per worker) until stopped; bounded in count
 * and time so it always ends. Returns status counts. `pauseMs` paces each worker (`pace` changes it);
 * `ownConnection` gives each worker a keep-alive connection of its own (else they share one pool).
 */
export function loadLoop(d: Pick<TestDaemon, 'proxyUrl'>, host: string, opts: { workers?: number; maxRequests?: number; maxMs?: number; pauseMs?: number; ownConnection?: boolean } = {}) {
  const u = new URL(d.proxyUrl);
  const shared = new Agent({ keepAlive: true });
  const agents = Array.from({ length: opts.workers ?? 4 }, () => (opts.ownConnection ? new Agent({ keepAlive: true, maxSockets: 1 }) : shared));
  const counts = new Map<number, number>();
  const bodies = new Map<string, number>();
  let stop = false;
  let sent = 0;
  let pauseMs = opts.pauseMs ?? 0;
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  const one = (agent: Agent) =>
    new Promise<void>((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: '/', headers: { host }, agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          counts.set(res.statusCode ?? 0, (counts.get(res.statusCode ?? 0) ?? 0) + 1);
          const key = body.split(' (')[0] ?? body;
          bodies.set(key, (bodies.get(key) ?? 0) + 1);
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => {
        counts.set(0, (counts.get(0) ?? 0) + 1);
        resolve();
      });
      req.end();
    });
  const worker = async (agent: Agent) => {
    while (!stop && sent < (opts.maxRequests ?? 20_000) && Date.now() < deadline) {
      sent++;
      await one(agent);
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const done = Promise.all(agents.map(worker));
  return {
    counts,
    bodies,
    pace(ms: number) {
      pauseMs = ms;
    },
    async stop() {
      stop = true;
      await done;
      for (const a of new Set(agents)) a.destroy();
      return { ok: counts.get(200) ?? 0, failed: [...counts].filter(([s]) => s !== 200).reduce((n, [, c]) => n + c, 0), counts: Object.fromEntries(counts), bodies: Object.fromEntries(bodies) };
    },
  };
}

/** One request through the proxy with a Host header (Node's resolver doesn't map *.localhost). */
export function proxyGet(d: TestDaemon, host: string, headers: Record<string, string> = {}, path = '/'): Promise<{ status: number; text: string }> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers: { host, ...headers }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}
