/**
 * Private networks of simulated hosts for cluster tests, built from Linux network namespaces.
 *
 * Every host is a network namespace with its own loopback and an `eth0`, one end of a veth pair whose
 * other end is a port of one bridge. The bridge sits in a namespace of its own (the "switch"), joined
 * to the root namespace by one more veth pair whose root end carries the gateway address (`.1`), so
 * the test process and anything it starts in the root namespace are reachable from every host.
 *
 * Why the bridge is not in the root namespace: with br_netfilter loaded, the root namespace's
 * `bridge-nf-call-iptables=1` sends bridged frames through its iptables FORWARD chain (a bridge's own
 * `nf_call_iptables 0` cannot switch that off), and a DROP policy there — Docker sets one — would cut
 * hosts off from each other. The switch namespace is fresh and has no rules, so the machine's firewall
 * is never touched; host-to-gateway traffic is plain local delivery in the root namespace.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync, readlinkSync, statSync } from 'node:fs';

/** The part of a node:test context the harness needs. */
export interface CleanupContext {
  after(fn: () => unknown): void;
}

export interface NetworkOptions {
  /** How many hosts (named host0, host1, …), or their names. At most 244. */
  hosts: number | readonly string[];
}

/** One simulated host. */
export interface NetworkHost {
  readonly name: string;
  /** Network namespace name, for `ip netns exec`. */
  readonly ns: string;
  /** The host's address on the private network (`.10` for the first host, `.11`, …). */
  readonly address: string;
  readonly index: number;
}

/** A host by object, name or index. */
export type HostRef = NetworkHost | string | number;

export interface RunResult {
  /** Exit status, -1 when the process ended by a signal. */
  status: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command (SIGKILL) after this long; default 30 s. */
  timeoutMs?: number;
}

export interface Network {
  /** Every namespace and root-namespace interface of this network starts with it. */
  readonly prefix: string;
  /** The root namespace's address on the network, `<a.b.c>.1`. */
  readonly gateway: string;
  /** The network in CIDR form, `<a.b.c>.0/24` (what a pg_hba.conf line wants). */
  readonly subnet: string;
  readonly hosts: readonly NetworkHost[];
  /** Looks a host up; throws for an unknown one. */
  host(ref: HostRef): NetworkHost;
  /**
   * Starts `command` inside the host's namespace. `ip netns exec` execs the command in place, so the
   * returned child's pid is the program's own: killing it kills the program.
   */
  spawn(host: HostRef, command: string, args?: readonly string[], opts?: SpawnOptions): ChildProcess;
  /** Runs a command inside the host's namespace to completion. Blocks the event loop: not for talking to servers in this process (use exec). */
  run(host: HostRef, command: string, args?: readonly string[], opts?: RunOptions): RunResult;
  /** Like run, without blocking the event loop. */
  exec(host: HostRef, command: string, args?: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Cuts the host off the network (its bridge port goes down), as if its machine became unreachable. */
  isolate(host: HostRef): void;
  /** Undoes isolate. */
  reconnect(host: HostRef): void;
  /**
   * Kills every process inside the network's namespaces and waits until they are gone, then removes
   * the namespaces and interfaces. Idempotent; the cleanup createNetwork registers calls it. Rejects
   * only when something of this network is still there afterwards.
   */
  destroy(): Promise<void>;
}

/** Host i gets `.(10 + i)`; `.254` is the last usable address of a /24. */
const MAX_HOSTS = 244;
const KILL_DEADLINE_MS = 10_000;
const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];

interface State {
  readonly prefix: string;
  readonly switchNs: string;
  readonly bridge: string;
  readonly gatewayLink: string;
  readonly hostNs: readonly string[];
  /** Only what this network created is ever removed (a name clash must not delete someone else's). */
  readonly createdNs: string[];
  readonly nsInodes: Map<string, number>;
  gatewayCreated: boolean;
  readonly children: Set<ChildProcess>;
  teardown?: Promise<void>;
}

/** Networks not yet torn down, for the last-resort cleanup at process exit. */
const live = new Set<State>();
let exitHookInstalled = false;
let ipPath: string | undefined;
let support: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Builds a private network with one namespace per host. Cleanup is registered on `t` before anything
 * exists, so the network goes away even when the test fails; on a failure while building, what was
 * built is removed before the error is thrown.
 */
export async function createNetwork(t: CleanupContext, opts: NetworkOptions): Promise<Network> {
  const names = hostNames(opts.hosts);
  const state = newState(names.length);
  t.after(() => destroyState(state));
  live.add(state);
  installExitHook();
  try {
    buildTopology(state);
    const base = assignGateway(state);
    const hosts = names.map((name, index): NetworkHost => {
      const address = `${base}.${10 + index}`;
      ip(['-n', state.hostNs[index], 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      return Object.freeze({ name, ns: state.hostNs[index], address, index });
    });
    return makeNetwork(state, base, Object.freeze(hosts));
  } catch (err) {
    try {
      await destroyState(state);
    } catch (cleanupErr) {
      throw new AggregateError([err, cleanupErr], `building network ${state.prefix} failed, and so did removing it`);
    }
    throw err;
  }
}

/**
 * Whether this process can build networks: Linux, root, iproute2, and the right to create a
 * namespace with a bridge and a veth pair in it (checked by doing so once). Cached.
 */
export function isRootWithNetns(): { ok: true } | { ok: false; reason: string } {
  support ??= probeSupport();
  return support;
}

/**
 * Picks a random `10.X.Y.0/24` with X in 200–250 that overlaps none of `occupied` (CIDRs or plain
 * addresses), or undefined after 64 tries.
 */
export function pickFreeSubnet(occupied: readonly string[], random: (n: number) => number = randomInt): string | undefined {
  for (let i = 0; i < 64; i++) {
    const subnet = `10.${200 + random(51)}.${random(256)}.0/24`;
    if (isFree(subnet, occupied)) return subnet;
  }
  return undefined;
}

function isFree(subnet: string, occupied: readonly string[]): boolean {
  const mine = cidrRange(subnet)!;
  return !occupied.some((o) => {
    const r = cidrRange(o);
    return r !== undefined && r.start < mine.end && mine.start < r.end;
  });
}

function hostNames(hosts: NetworkOptions['hosts']): string[] {
  const count = typeof hosts === 'number' ? hosts : hosts.length;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) throw new RangeError(`hosts: between 1 and ${MAX_HOSTS}, got ${count}`);
  const names = typeof hosts === 'number' ? Array.from({ length: count }, (_, i) => `host${i}`) : [...hosts];
  const seen = new Set<string>();
  for (const n of names) {
    if (n === '' || seen.has(n)) throw new RangeError(`hosts: names must be non-empty and unique, got ${JSON.stringify(n)}`);
    seen.add(n);
  }
  return names;
}

function newState(count: number): State {
  // pid and a random part: parallel test files never clash; the longest name, `<prefix>gw`, stays
  // within Linux's 15 characters (pid ≤ 5 base-36 digits).
  const prefix = `hgn${process.pid.toString(36)}-${randomInt(36 ** 3).toString(36).padStart(3, '0')}`;
  return {
    prefix,
    switchNs: `${prefix}-sw`,
    bridge: `${prefix}br`,
    gatewayLink: `${prefix}gw`,
    hostNs: Array.from({ length: count }, (_, i) => `${prefix}-h${i}`),
    createdNs: [],
    nsInodes: new Map(),
    gatewayCreated: false,
    children: new Set(),
  };
}

function buildTopology(s: State): void {
  addNamespace(s, s.switchNs);
  ip(['-n', s.switchNs, 'link', 'add', s.bridge, 'type', 'bridge']);
  ip(['-n', s.switchNs, 'link', 'set', s.bridge, 'up']);
  ip(['link', 'add', s.gatewayLink, 'type', 'veth', 'peer', 'name', 'uplink', 'netns', s.switchNs]);
  s.gatewayCreated = true;
  ip(['-n', s.switchNs, 'link', 'set', 'uplink', 'master', s.bridge, 'up']);
  s.hostNs.forEach((ns, i) => {
    addNamespace(s, ns);
    ip(['-n', s.switchNs, 'link', 'add', portOf(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    ip(['-n', s.switchNs, 'link', 'set', portOf(i), 'master', s.bridge, 'up']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  });
}

/** The host's bridge port, inside the switch namespace. */
function portOf(index: number): string {
  return `port${index}`;
}

function addNamespace(s: State, ns: string): void {
  ip(['netns', 'add', ns]);
  s.createdNs.push(ns);
  for (const dir of ['/run/netns', '/var/run/netns']) {
    try {
      s.nsInodes.set(ns, statSync(`${dir}/${ns}`).ino);
      return;
    } catch {
      // try the next location
    }
  }
}

/**
 * Gives the gateway link an address in a free /24 and returns its first three octets. The check is
 * repeated once the address is on: a test file choosing at the same moment may have taken the same
 * subnet, and then both let go and choose again.
 */
function assignGateway(s: State): string {
  ip(['link', 'set', s.gatewayLink, 'up']);
  for (let attempt = 0; attempt < 8; attempt++) {
    const subnet = pickFreeSubnet(occupiedNetworks(s.gatewayLink));
    if (subnet === undefined) throw new Error('no free /24 in 10.200.0.0–10.250.255.255 on this machine');
    const base = subnet.slice(0, -'.0/24'.length);
    ip(['addr', 'add', `${base}.1/24`, 'dev', s.gatewayLink]);
    if (isFree(subnet, occupiedNetworks(s.gatewayLink))) return base;
    ip(['addr', 'del', `${base}.1/24`, 'dev', s.gatewayLink]);
  }
  throw new Error('could not settle on a free /24 (every choice was taken concurrently)');
}

/**
 * Every IPv4 address and route of the root namespace, except those on `ownLink`. Routes shorter than
 * /8 (default, 0.0.0.0/1 of a VPN) are catch-alls, not networks a /24 could shadow.
 */
function occupiedNetworks(ownLink: string): string[] {
  const out: string[] = [];
  for (const line of ip(['-4', '-o', 'addr', 'show']).split('\n')) {
    const m = /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(line);
    if (m && m[1] !== ownLink) out.push(m[2]!);
  }
  const types = new Set(['unicast', 'local', 'broadcast', 'multicast', 'throw', 'unreachable', 'prohibit', 'blackhole', 'nat', 'anycast']);
  for (const line of ip(['-4', 'route', 'show', 'table', 'all']).split('\n')) {
    const words = line.trim().split(/\s+/);
    const dev = words.indexOf('dev');
    if (dev >= 0 && words[dev + 1] === ownLink) continue;
    const target = types.has(words[0]!) ? words[1] : words[0];
    if (!target || target === 'default') continue;
    const bits = target.includes('/') ? Number(target.split('/')[1]) : 32;
    if (bits >= 8) out.push(target);
  }
  return out;
}

interface Range {
  start: number;
  end: number;
}

function cidrRange(cidr: string): Range | undefined {
  const [addr, bitsText] = cidr.split('/');
  const bits = bitsText === undefined ? 32 : Number(bitsText);
  const octets = (addr ?? '').split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return undefined;
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return undefined;
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const start = Math.floor(value / size) * size;
  return { start, end: start + size };
}

function makeNetwork(s: State, base: string, hosts: readonly NetworkHost[]): Network {
  const host = (ref: HostRef): NetworkHost => {
    const found = typeof ref === 'number' ? hosts[ref] : hosts.find((h) => (typeof ref === 'string' ? h.name === ref : h === ref));
    if (!found) throw new RangeError(`no host ${typeof ref === 'object' ? ref.name : String(ref)} in network ${s.prefix}`);
    return found;
  };
  const enter = (ref: HostRef, command: string, args: readonly string[]): string[] => {
    if (s.teardown) throw new Error(`network ${s.prefix} is destroyed`);
    return ['netns', 'exec', host(ref).ns, command, ...args];
  };
  const setPort = (ref: HostRef, state: 'up' | 'down') => ip(['-n', s.switchNs, 'link', 'set', portOf(host(ref).index), state]);
  const spawnIn = (ref: HostRef, command: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess => {
    const child = spawn(ipBinary(), enter(ref, command, args), opts);
    s.children.add(child);
    child.once('exit', () => s.children.delete(child));
    return child;
  };
  return {
    prefix: s.prefix,
    gateway: `${base}.1`,
    subnet: `${base}.0/24`,
    hosts,
    host,
    spawn: spawnIn,
    run(ref, command, args = [], opts = {}) {
      const r = spawnSync(ipBinary(), enter(ref, command, args), {
        encoding: 'utf8',
        input: opts.input,
        env: opts.env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 30_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      });
      if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
      return { status: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    },
    exec(ref, command, args = [], opts = {}) {
      const stdin = opts.input === undefined ? 'ignore' : 'pipe';
      return collect(spawnIn(ref, command, args, { env: opts.env, cwd: opts.cwd, stdio: [stdin, 'pipe', 'pipe'] }), opts);
    },
    isolate: (ref) => setPort(ref, 'down'),
    reconnect: (ref) => setPort(ref, 'up'),
    destroy: () => destroyState(s),
  };
}

function collect(child: ChildProcess, opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, signal, stdout, stderr });
    });
  });
}

function destroyState(s: State): Promise<void> {
  s.teardown ??= teardown(s).finally(() => live.delete(s));
  return s.teardown;
}

async function teardown(s: State): Promise<void> {
  const problems: string[] = [];
  const stubborn = await killEverything(s);
  if (stubborn.length > 0) problems.push(`processes still running after ${KILL_DEADLINE_MS} ms: ${stubborn.join(', ')}`);
  removeInterfacesAndNamespaces(s);
  const left = leftovers(s);
  if (left.length > 0) problems.push(`still present: ${left.join(', ')}`);
  if (problems.length > 0) throw new Error(`tearing down network ${s.prefix}: ${problems.join('; ')}`);
}

/**
 * SIGKILLs the children spawned through the network and every process inside its namespaces, until
 * none is left and every child has been reaped. Returns the pids still there at the deadline.
 */
async function killEverything(s: State): Promise<number[]> {
  const deadline = Date.now() + KILL_DEADLINE_MS;
  for (;;) {
    const pids = killOnce(s);
    const children = [...s.children].filter(running).map((c) => c.pid!);
    if (pids.length === 0 && children.length === 0) return [];
    if (Date.now() > deadline) return [...new Set([...pids, ...children])];
    // No event says "this namespace is empty": poll, briefly, under the deadline.
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One round of SIGKILLs; returns the pids found inside the namespaces. */
function killOnce(s: State): number[] {
  // A child spawned a moment ago may still be `ip` itself, not yet inside its namespace.
  for (const c of s.children) if (running(c)) c.kill('SIGKILL');
  const found: number[] = [];
  for (const ns of s.createdNs) {
    const r = ipTry(['netns', 'pids', ns]);
    if (r.status !== 0) continue;
    for (const pid of r.stdout.split('\n').filter(Boolean).map(Number)) {
      // Re-check the namespace right before killing, so a pid reused meanwhile is left alone.
      if (!isInNamespace(pid, s.nsInodes.get(ns))) continue;
      found.push(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  return found;
}

function running(c: ChildProcess): boolean {
  return c.pid !== undefined && c.exitCode === null && c.signalCode === null;
}

function isInNamespace(pid: number, inode: number | undefined): boolean {
  try {
    const link = readlinkSync(`/proc/${pid}/ns/net`);
    return inode === undefined || link === `net:[${inode}]`;
  } catch {
    return false;
  }
}

function removeInterfacesAndNamespaces(s: State): void {
  // Deleting a namespace frees its interfaces asynchronously; the gateway link is deleted first, so
  // the root namespace is clean when this returns.
  if (s.gatewayCreated) ipTry(['link', 'del', s.gatewayLink]);
  for (const ns of [...s.createdNs].reverse()) ipTry(['netns', 'del', ns]);
}

function leftovers(s: State): string[] {
  const listed = new Set(
    ipTry(['netns', 'list'])
      .stdout.split('\n')
      .map((l) => l.split(' ')[0]),
  );
  const left = s.createdNs.filter((ns) => listed.has(ns)).map((ns) => `namespace ${ns}`);
  if (s.gatewayCreated && ipTry(['link', 'show', 'dev', s.gatewayLink]).status === 0) left.push(`link ${s.gatewayLink}`);
  return left;
}

/**
 * When the process exits with networks still up (process.exit in a test, a crash), removes them
 * without waiting: exit handlers cannot. The after hooks normally got there first.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        killOnce(s);
        removeInterfacesAndNamespaces(s);
      } catch {
        // best effort at exit
      }
    }
  });
}

function probeSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: `network namespaces need root (uid ${process.getuid?.()})` };
  if (!IP_CANDIDATES.some((p) => existsSync(p))) return { ok: false, reason: 'iproute2 (`ip`) is not installed' };
  const ns = `hgn${process.pid.toString(36)}-probe`;
  try {
    ip(['netns', 'add', ns]);
    try {
      ip(['-n', ns, 'link', 'add', 'probebr', 'type', 'bridge']);
      ip(['-n', ns, 'link', 'add', 'probea', 'type', 'veth', 'peer', 'name', 'probeb']);
    } finally {
      ipTry(['netns', 'del', ns]);
    }
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `cannot create network namespaces here: ${(err as Error).message}` };
  }
}

function ipBinary(): string {
  ipPath ??= IP_CANDIDATES.find((p) => existsSync(p)) ?? 'ip';
  return ipPath;
}

function ipTry(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(ipBinary(), args, { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`, { cause: r.error });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ip(args: readonly string[]): string {
  const r = ipTry(args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}
