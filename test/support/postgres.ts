/**
 * A real, throwaway PostgreSQL server for tests, from the distribution's binaries
 * (/usr/lib/postgresql/<version>/bin; Debian's `postgresql` package). Each server lives in its own temp
 * directory (data, unix socket, log) on its own loopback TCP port, so parallel test files never share
 * one, and the system cluster is never touched. PostgreSQL refuses to run as root, so under root (CI)
 * every server-side binary runs as the `postgres` user through `runuser`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** What startPostgres needs of a node:test context: a TestContext, or `{ after }` from node:test. */
export interface PgTestContext {
  after(fn: () => unknown): void;
}

export interface StartPostgresOptions {
  /** Addresses to listen on (PostgreSQL's listen_addresses); the first is `host`. Default ['127.0.0.1']. */
  listen?: string[];
  /** The superuser's password; default: a random one. */
  password?: string;
  /** Client networks (CIDR) allowed to connect over TCP with the password, beyond loopback. */
  allow?: string[];
}

/** A running (or stopped) throwaway server. Its superuser is `hangar`. */
export interface PgServer {
  /** The address clients connect to: the first listen address. */
  readonly host: string;
  /** TCP port; the same across stop()/start(). */
  readonly port: number;
  readonly user: 'hangar';
  readonly password: string;
  /** The temp directory holding data/, the socket directory and postgres.log; gone after destroy(). */
  readonly dir: string;
  /** Directory of the unix socket (trust auth), for psql -h. */
  readonly socketDir: string;
  /** The server's log (stderr), appended across restarts. */
  readonly logFile: string;
  /** The postmaster's pid while running, undefined when stopped. */
  readonly pid: number | undefined;
  /** `postgres://hangar:PASSWORD@HOST:PORT/DB` (DB defaults to `postgres`). */
  url(db?: string): string;
  /** Creates a database (a new unique name unless given) and returns its name. */
  createDatabase(name?: string): Promise<string>;
  /** Drops a database, closing its connections first; no error if it does not exist. */
  dropDatabase(name: string): Promise<void>;
  /** Fast shutdown (sessions are closed, data kept); waits until the postmaster is gone. */
  stop(): Promise<void>;
  /** Starts again on the same port and data; resolves once connections are accepted. */
  start(): Promise<void>;
  /** A crash: SIGKILL to the postmaster and its children, then waits until all are gone. */
  kill(): Promise<void>;
  /** Stops the server (immediate shutdown) and removes its directory. Idempotent; also run by t.after. */
  destroy(): Promise<void>;
}

type Availability = { ok: true } | { ok: false; reason: string };

interface Install {
  bin: string;
  /** Set when running as root: the postgres user to run the server as. */
  runAs?: { uid: number; gid: number; runuser: string };
}

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 30_000;
const KILL_TIMEOUT_MS = 10_000;
const POLL_MS = 25;
const NEEDED = ['initdb', 'postgres', 'pg_isready', 'psql'];
/**
 * Durability traded for speed: the data only has to survive a killed server, not a killed machine, so
 * nothing is flushed to disk. synchronous_commit stays on: with fsync off a commit costs one write(), and
 * without it a commit acknowledged just before kill() is lost, which would break crash tests.
 */
const SETTINGS = [
  'fsync=off',
  'full_page_writes=off',
  'shared_buffers=16MB',
  'max_connections=100',
  // Dynamic shared memory in files under data/, not /dev/shm, so a killed server leaves nothing behind.
  'dynamic_shared_memory_type=mmap',
];

let install: Install | { reason: string } | undefined;

/** Whether a server can be started here; tests skip with the reason when not. */
export function postgresAvailable(): Availability {
  const found = findInstall();
  return 'reason' in found ? { ok: false, reason: found.reason } : { ok: true };
}

/** Path of a PostgreSQL client or server binary (psql, pg_dump, …) of the installation tests use. */
export function postgresBinary(name: string): string {
  const found = findInstall();
  if ('reason' in found) throw new Error(`PostgreSQL is not available: ${found.reason}`);
  return join(found.bin, name);
}

function findInstall(): Install | { reason: string } {
  install ??= probeInstall();
  return install;
}

function probeInstall(): Install | { reason: string } {
  const bin = process.env.HANGAR_TEST_PG_BIN ?? newestDebianBin();
  if (!bin) return { reason: 'no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)' };
  const missing = NEEDED.filter((b) => !existsSync(join(bin, b)));
  if (missing.length > 0) return { reason: `${bin} lacks ${missing.join(', ')}` };
  if (process.getuid?.() !== 0) return { bin };
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  if (!runuser) return { reason: 'running as root, and runuser (util-linux) is missing to run PostgreSQL as postgres' };
  const uid = idOf('-u');
  const gid = idOf('-g');
  if (uid === undefined || gid === undefined) return { reason: 'running as root, and there is no postgres user to run PostgreSQL as' };
  return { bin, runAs: { uid, gid, runuser } };
}

function newestDebianBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(root, v, 'bin')).find((b) => existsSync(join(b, 'initdb')));
}

function idOf(flag: '-u' | '-g'): number | undefined {
  const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : undefined;
}

/**
 * Starts a fresh server: initdb into a new temp dir, then the postmaster on a free port. Cleanup is
 * registered on `t` before anything exists, so a failed test (or a failed start) leaves nothing running.
 */
export async function startPostgres(t: PgTestContext, opts: StartPostgresOptions = {}): Promise<PgServer> {
  const found = findInstall();
  if ('reason' in found) throw new Error(`PostgreSQL is not available: ${found.reason}`);
  const listen = opts.listen ?? ['127.0.0.1'];
  if (listen.length === 0) throw new Error('startPostgres: listen needs at least one address');
  const server = new ThrowawayServer(found, listen, opts.password ?? randomBytes(12).toString('hex'));
  t.after(() => server.destroy());
  await server.init(opts.allow ?? []);
  await server.startOnFreePort();
  return server;
}

class PortInUse extends Error {}

/** The spawned server process (under root: runuser, whose child is the postmaster `pid`). */
interface Postmaster {
  child: ChildProcess;
  exited: Promise<void>;
  done: boolean;
  pid?: number;
}

class ThrowawayServer implements PgServer {
  readonly user = 'hangar' as const;
  readonly dir: string;
  readonly socketDir: string;
  readonly logFile: string;
  readonly host: string;
  port = 0;
  private readonly data: string;
  private readonly env: NodeJS.ProcessEnv;
  private proc: Postmaster | undefined;
  private running = false;
  private destroying: Promise<void> | undefined;
  private dbCount = 0;

  constructor(
    private readonly install: Install,
    private readonly listen: string[],
    readonly password: string,
  ) {
    this.dir = mkdtempSync(join(tempBase(install), 'hangar-pg-'));
    LIVE.add(this);
    this.data = join(this.dir, 'data');
    this.socketDir = join(this.dir, 'sock');
    this.logFile = join(this.dir, 'postgres.log');
    this.host = clientHost(listen[0]!);
    this.env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  }

  get pid(): number | undefined {
    return this.running ? this.proc?.pid : undefined;
  }

  url(db = 'postgres'): string {
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `postgres://hangar:${encodeURIComponent(this.password)}@${host}:${this.port}/${encodeURIComponent(db)}`;
  }

  /** Creates the directories (owned by postgres under root) and the cluster. */
  async init(allow: string[]): Promise<void> {
    mkdirSync(this.socketDir, { mode: 0o700 });
    const pwfile = join(this.dir, 'pwfile');
    writeFileSync(pwfile, this.password + '\n', { mode: 0o600 });
    for (const p of [this.dir, this.socketDir, pwfile]) this.chown(p);
    const args = ['-D', this.data, '-U', 'hangar', `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256'];
    const r = await run(...this.asServerUser('initdb', [...args, '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']), { cwd: this.dir, env: this.env, timeoutMs: 60_000 });
    rmSync(pwfile, { force: true });
    if (r.code !== 0) throw new Error(`initdb failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
    if (allow.length) appendFileSync(join(this.data, 'pg_hba.conf'), allow.map((cidr) => `host all all ${cidr} scram-sha-256\n`).join(''));
  }

  /** Finds a port free on every listen address and starts there; tries again if another process wins it. */
  async startOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort(this.listen);
      try {
        return await this.start();
      } catch (err) {
        if (!(err instanceof PortInUse) || attempt >= 5) throw err;
      }
    }
  }

  async start(): Promise<void> {
    if (this.destroying) throw new Error('this PostgreSQL server was destroyed');
    if (this.running) return;
    const logStart = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const settings = [...SETTINGS, `listen_addresses=${this.listen.join(',')}`, `unix_socket_directories=${this.socketDir}`];
    const args = ['-D', this.data, '-p', String(this.port), ...settings.flatMap((s) => ['-c', s])];
    const logFd = openSync(this.logFile, 'a');
    const child = spawn(...this.asServerUser('postgres', args), { cwd: this.dir, env: this.env, stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const proc: Postmaster = { child, exited: Promise.resolve(), done: false };
    proc.exited = new Promise<void>((resolve) => {
      const end = () => resolve(void (proc.done = true));
      child.once('exit', end);
      child.once('error', end);
    });
    this.proc = proc;
    try {
      await this.waitReady(logStart);
    } catch (err) {
      await this.killProcesses();
      throw err;
    }
    this.running = true;
  }

  private async waitReady(logStart: number): Promise<void> {
    const proc = this.proc!;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.done) {
        const log = this.logSince(logStart);
        if (/could not bind|address already in use/i.test(log)) throw new PortInUse(`port ${this.port} is taken: ${bindErrors(log)}`);
        throw new Error(`PostgreSQL exited while starting (exit ${proc.child.exitCode ?? proc.child.signalCode}); log:\n${tail(log)}`);
      }
      proc.pid ??= this.postmasterPid(proc.child);
      const probe = ['-q', '-h', this.socketDir, '-p', String(this.port), '-U', 'hangar', '-d', 'postgres', '-t', '2'];
      if (proc.pid && (await run(join(this.install.bin, 'pg_isready'), probe, { env: this.env, timeoutMs: 5_000 })).code === 0) break;
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS} ms; log:\n${tail(this.logSince(logStart))}`);
      await Promise.race([proc.exited, delay(POLL_MS)]);
    }
    // With several listen addresses the server starts if it binds any one of them: a lost one is a collision too.
    const log = this.logSince(logStart);
    if (/could not bind/i.test(log)) throw new PortInUse(`port ${this.port} is taken on some address: ${bindErrors(log)}`);
  }

  async stop(): Promise<void> {
    if (!this.running || !this.proc) return;
    this.running = false;
    signal(this.proc.pid, 'SIGINT');
    if (!(await within(this.proc.exited, STOP_TIMEOUT_MS))) {
      throw new Error(`PostgreSQL did not shut down within ${STOP_TIMEOUT_MS} ms; log:\n${tail(this.logSince(0))}`);
    }
    this.proc = undefined;
  }

  async kill(): Promise<void> {
    this.running = false;
    await this.killProcesses();
  }

  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    this.running = false;
    const proc = this.proc;
    if (proc?.pid && !proc.done) {
      signal(proc.pid, 'SIGQUIT'); // immediate shutdown: no checkpoint, but shared memory is released
      if (!(await within(proc.exited, KILL_TIMEOUT_MS))) await this.killProcesses();
    } else if (proc) {
      await this.killProcesses();
    }
    this.proc = undefined;
    this.removeStaleSharedMemory();
    rmSync(this.dir, { recursive: true, force: true });
    LIVE.delete(this);
  }

  /** SIGKILL to the postmaster and every child it has, then waits until none is attached to its memory. */
  private async killProcesses(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const deadline = Date.now() + KILL_TIMEOUT_MS;
    while (!proc.pid && !proc.done && Date.now() < deadline) {
      proc.pid = this.postmasterPid(proc.child);
      if (!proc.pid) await Promise.race([proc.exited, delay(POLL_MS)]);
    }
    if (proc.pid) {
      const children = childrenOf(proc.pid);
      signal(proc.pid, 'SIGKILL');
      for (const c of children) signal(c, 'SIGKILL');
    } else {
      proc.child.kill('SIGKILL');
    }
    if (!(await within(proc.exited, KILL_TIMEOUT_MS))) throw new Error(`PostgreSQL (pid ${proc.pid}) outlived SIGKILL`);
    this.proc = undefined;
    const shm = this.sharedMemory();
    await waitFor(() => !shm || (sysvSegment(shm.id)?.attached ?? 0) === 0, KILL_TIMEOUT_MS, 'the killed server processes to exit');
  }

  /** A server that did not shut down leaves its SysV segment; free it once nothing is attached. */
  private removeStaleSharedMemory(): void {
    const shm = this.sharedMemory();
    const seg = shm && sysvSegment(shm.id);
    if (!shm || !seg || seg.key !== shm.key || seg.attached !== 0) return;
    spawnSync('ipcrm', ['-m', String(shm.id)], { stdio: 'ignore', timeout: 5_000 });
  }

  /** The SysV segment named on line 7 of postmaster.pid (present until a clean shutdown). */
  private sharedMemory(): { key: number; id: number } | undefined {
    let lines: string[];
    try {
      lines = readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n');
    } catch {
      return undefined;
    }
    const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(lines[6] ?? '');
    return m ? { key: Number(m[1]), id: Number(m[2]) } : undefined;
  }

  async createDatabase(name = `db_${++this.dbCount}_${randomBytes(4).toString('hex')}`): Promise<string> {
    await this.psql(`CREATE DATABASE ${quoteIdent(name)}`);
    return name;
  }

  async dropDatabase(name: string): Promise<void> {
    await this.psql(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
  }

  /** Runs SQL as hangar over the unix socket (trust), as the current user: root may open any socket. */
  private async psql(sql: string): Promise<void> {
    const args = ['-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-h', this.socketDir, '-p', String(this.port), '-U', 'hangar', '-d', 'postgres', '-c', sql];
    const r = await run(join(this.install.bin, 'psql'), args, { env: this.env, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`psql failed (exit ${r.code}) for ${sql}: ${r.stderr.trim()}`);
  }

  /** Under root the spawned child is runuser: the postmaster is its child. */
  private postmasterPid(child: ChildProcess): number | undefined {
    if (!child.pid) return undefined;
    return this.install.runAs ? childrenOf(child.pid)[0] : child.pid;
  }

  private asServerUser(binary: string, args: string[]): [string, string[]] {
    const path = join(this.install.bin, binary);
    const ru = this.install.runAs;
    return ru ? [ru.runuser, ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }

  private chown(path: string): void {
    const ru = this.install.runAs;
    if (ru) chownSync(path, ru.uid, ru.gid);
  }

  private logSince(offset: number): string {
    try {
      return readFileSync(this.logFile).subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  /** Last resort when the process exits without running test hooks: no server outlives its test run. */
  killNow(): void {
    const pid = this.proc?.pid;
    if (pid) for (const p of [pid, ...childrenOf(pid)]) signal(p, 'SIGKILL');
    const shm = this.sharedMemory();
    // Synchronous on purpose: the event loop is gone. The killed processes detach within milliseconds.
    const deadline = Date.now() + 2_000;
    while (shm && (sysvSegment(shm.id)?.attached ?? 0) > 0 && Date.now() < deadline) Atomics.wait(SLEEPER, 0, 0, 5);
    this.removeStaleSharedMemory();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const LIVE = new Set<ThrowawayServer>();
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
let exitHook = false;

function tempBase(inst: Install): string {
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => LIVE.forEach((s) => s.killNow()));
  }
  // The postgres user must be able to reach the directory; a private TMPDIR of root's would not do.
  const base = tmpdir();
  return inst.runAs && !traversableByOthers(base) ? '/tmp' : base;
}

function traversableByOthers(path: string): boolean {
  for (let p = path; ; p = dirname(p)) {
    if ((statSync(p).mode & 0o001) === 0) return false;
    if (p === dirname(p)) return true;
  }
}

/** The address a client should dial for a listen address (wildcards mean loopback here). */
function clientHost(listen: string): string {
  if (listen === '*' || listen === '0.0.0.0') return '127.0.0.1';
  return listen === '::' ? '::1' : listen;
}

/** A port the kernel just handed out on the first address, and that is also free on the others. */
async function freePort(listen: string[]): Promise<number> {
  for (;;) {
    const port = await bindOnce(listen[0]!, 0);
    let free = true;
    for (const addr of listen.slice(1)) free = free && (await bindOnce(addr, port).then(() => true, () => false));
    if (free) return port;
  }
}

function bindOnce(listen: string, port: number): Promise<number> {
  const host = listen === '*' ? undefined : listen;
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const bound = (srv.address() as { port: number }).port;
      srv.close(() => resolve(bound));
    });
  });
}

/** Pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return out;
}

function sysvSegment(id: number): { key: number; attached: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/sysvipc/shm', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (Number(f[1]) === id) return { key: Number(f[0]), attached: Number(f[6]) };
  }
  return undefined;
}

function signal(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function bindErrors(log: string): string {
  return log.split('\n').filter((l) => /could not bind/i.test(l)).map((l) => l.replace(/^.*?(LOG|WARNING|FATAL):\s*/, '')).join('; ');
}

function tail(log: string, lines = 30): string {
  return log.trimEnd().split('\n').slice(-lines).join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([p.then(() => true as const), timeout]);
  clearTimeout(timer);
  return done;
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(POLL_MS);
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop (other servers may be starting too). */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // SIGTERM, not SIGKILL: runuser passes it on to the command it runs.
    const timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? (sig ? 128 : -1), stdout, stderr });
    });
  });
}
