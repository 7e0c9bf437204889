/**
 * A real hangar cluster on one machine, for tests: one PostgreSQL server in the root namespace (on the
 * private network's gateway address), and one hangar node per simulated host, each in its own network
 * namespace with its own HANGAR_HOME. Machines listen on their host's loopback, as on real hosts, so a
 * request reaches another host's machine only through hangar. Everything is removed at the end.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiCall, BIN, cliAsync, killMachines, waitUntil } from '../helpers.js';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { createNetwork, type Network, type NetworkHost } from './netns.js';

export const API_PORT = 4280;
export const PROXY_PORT = 4080;

export interface ClusterNode {
  name: string;
  region: string;
  host: NetworkHost;
  home: string;
  url: string;
  proxyUrl: string;
  token: string;
  proc: ChildProcess;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  cli(args: string[], opts?: { cwd?: string }): Promise<{ status: number; stdout: string; stderr: string }>;
  /** One request through this node's proxy for `app`. */
  get(app: string, path?: string, headers?: Record<string, string>): Promise<{ status: number; text: string; machine?: string }>;
  /** What the node printed (stdout and stderr) since it last started. */
  output(): string;
  kill9(): Promise<void>;
  /** Starts the node again on the same HANGAR_HOME (after kill9 or stop). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Cluster {
  pg: PgServer;
  net: Network;
  nodes: ClusterNode[];
  node(name: string): ClusterNode;
}

interface Ctx {
  after(fn: () => unknown): void;
}

/** Node intervals for tests: heartbeats every 200 ms, a host is down after 2 s without one. */
const NODE_ENV = { HANGAR_HEARTBEAT_INTERVAL: '200ms', HANGAR_RESTART_BACKOFF: '20ms', HANGAR_DOCKER_PULL: 'never', DOCKER_HOST: 'unix:///nonexistent/hangar-test-docker.sock' };

export interface ClusterOptions {
  /** Each node's --host-down-after (default 2 s). */
  downAfter?: string;
  /** Added to every node's environment over the test intervals above (a benchmark sets hangar's own back). */
  env?: Record<string, string>;
  /** Extra environment for one host's node (e.g. its own DOCKER_HOST), prepared before it starts. */
  nodeEnv?: (net: Network, host: NetworkHost) => Promise<Record<string, string>>;
}

export async function startCluster(t: Ctx, hosts: Array<{ name: string; region: string }>, opts: ClusterOptions = {}): Promise<Cluster> {
  const net = await createNetwork(t, { hosts: hosts.map((h) => h.name) });
  const pg = await startPostgres(t, { listen: [net.gateway], allow: [net.subnet] });
  const db = await pg.createDatabase();
  const extra = await Promise.all(net.hosts.map((h) => opts.nodeEnv?.(net, h) ?? Promise.resolve({})));
  const nodes: ClusterNode[] = hosts.map((h, i) => makeNode(t, net, net.hosts[i]!, h, pg.url(db), opts.downAfter ?? '2s', { ...opts.env, ...extra[i]! }));
  await Promise.all(nodes.map((n) => n.start()));
  return { pg, net, nodes, node: (name) => nodes.find((n) => n.name === name)! };
}

function makeNode(t: Ctx, net: Network, host: NetworkHost, h: { name: string; region: string }, dbUrl: string, downAfter: string, extraEnv: Record<string, string>): ClusterNode {
  const home = mkdtempSync(join(tmpdir(), `hangar-node-${h.name}-`));
  const url = `http://${host.address}:${API_PORT}`;
  const procs: ChildProcess[] = [];
  let printed = '';
  t.after(async () => {
    for (const p of procs) await stopProc(p);
    killMachines(home);
    rmSync(home, { recursive: true, force: true });
  });
  const node: ClusterNode = {
    name: h.name,
    region: h.region,
    host,
    home,
    url,
    proxyUrl: `http://${host.address}:${PROXY_PORT}`,
    token: '',
    proc: undefined as unknown as ChildProcess,
    output: () => printed,
    api: (method, path, body) => apiCall(url, node.token, method, path, body),
    cli: (args, o = {}) => cliAsync({ ...process.env, HANGAR_API_URL: url, HANGAR_API_TOKEN: node.token, HANGAR_HOME: home }, args, o.cwd),
    get: (app, path = '/', headers = {}) => proxyGet(host.address, app, path, headers),
    async kill9() {
      node.proc.kill('SIGKILL');
      if (node.proc.exitCode === null && node.proc.signalCode === null) await new Promise((r) => node.proc.once('exit', r));
    },
    async stop() {
      await stopProc(node.proc);
    },
    async start() {
      const env: NodeJS.ProcessEnv = { ...process.env, ...NODE_ENV, ...extraEnv, HANGAR_HOME: home };
      delete env.HANGAR_API_URL;
      delete env.HANGAR_API_TOKEN;
      const args = [BIN, 'server', '--listen', `${host.address}:${API_PORT}`, '--proxy-listen', `${host.address}:${PROXY_PORT}`, '--database', dbUrl, '--region', h.region, '--host-name', h.name, '--host-down-after', downAfter, '--proxy-workers', process.env.HANGAR_PROXY_WORKERS ?? '1'];
      const proc = net.spawn(host, process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(proc);
      node.proc = proc;
      let output = '';
      printed = '';
      proc.stdout!.on('data', (d) => ((output += d), (printed += d)));
      proc.stderr!.on('data', (d) => ((output += d), (printed += d)));
      const info = join(home, 'daemon.json');
      await waitUntil(
        () => {
          if (proc.exitCode !== null) throw new Error(`node ${h.name} exited: ${output}`);
          return existsSync(info) && JSON.parse(readFileSync(info, 'utf8')).pid === proc.pid;
        },
        30_000,
        `node ${h.name} to start`,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\n${output}`);
      });
      node.token = readFileSync(join(home, 'token'), 'utf8').trim();
    },
  };
  return node;
}

async function stopProc(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGTERM');
  const gone = new Promise((r) => p.once('exit', r));
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

/** One request to a node's proxy with a Host header; never throws (status 0 on a connection error). */
export function proxyGet(address: string, app: string, path = '/', headers: Record<string, string> = {}): Promise<{ status: number; text: string; machine?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: address, port: PROXY_PORT, path, headers: { host: `${app}.localhost`, ...headers }, agent: false, timeout: 10_000 }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, machine: res.headers['hangar-machine'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.end();
  });
}

/** Whether this machine can run the cluster tests (root, ip netns, PostgreSQL), and why not. */
export function clusterSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'cluster tests need root (network namespaces)' };
  if (spawnSync('ip', ['netns', 'list']).status !== 0) return { ok: false, reason: 'ip netns is not available' };
  return { ok: true };
}
