/**
 * bench:cluster's fleet: one app of FLEET machines (the echo app, one `web` group with a 100 ms /health
 * check), made by a first `hangar deploy` and `hangar scale count` per region through one node's API,
 * and the timed rolling deploy of all of them (`hangar deploy DIR -e MESSAGE=vN`) under paced load
 * through one node's proxy. The same functions build and deploy the one-host fleet the cluster is
 * compared with, so both sides run the same commands on the same config.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURE_APP, WEB_TOML } from '../test/helpers.js';
import type { Cluster, ClusterNode } from '../test/cluster/cluster.js';
import { breakdown, parseEvents, type Segment } from './deploy-report.js';
import { failed, failureKinds, Loops, type LoopSpec, type Shot } from './cluster-load.js';
import { until, type Scope } from './cluster-scope.js';

export const FLEET_APP = 'fleet';
export const DEPLOY_TIMEOUT_MS = 300_000;
/** Load before and after the deploy, so the window also holds anything the deploy leaves behind. */
const SETTLE_MS = 1000;

/** The test suite's web app with its health check, as the deploy tests use it. */
const TOML = WEB_TOML(FLEET_APP);

/** A machine as the API lists it (the fields the bench reads). */
export interface MachineRow {
  id: string;
  name: string;
  host: string;
  region: string;
  state: string;
  instance_id: string;
  checks: Array<{ status: string }>;
  config: { env: Record<string, string> };
}

export interface FleetSetup {
  firstDeployMs: number;
  scaleMs: number;
  /** Machines per host after scaling. */
  perHost: Record<string, number>;
}

/** A temp app directory with the echo app and the fleet's hangar.toml. */
export function fleetDir(scope: Scope): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-cluster-app-'));
  scope.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'server.js'), readFileSync(join(FIXTURE_APP, 'server.js')));
  writeFileSync(join(dir, 'hangar.toml'), TOML);
  return dir;
}

/** First deploy through `via`, then `scale count` per region (also through `via`) until `counts` hold; waits until all are healthy. */
export async function buildFleet(scope: Scope, c: Cluster, via: ClusterNode, dir: string, counts: Array<{ region?: string; count: number }>): Promise<FleetSetup> {
  const t0 = performance.now();
  await mustRun(scope, via, ['deploy', dir], 'first deploy', 120_000);
  const t1 = performance.now();
  for (const { region, count } of counts) {
    await mustRun(scope, via, ['scale', 'count', String(count), ...(region ? ['--region', region] : []), '-a', FLEET_APP], `scale count ${count}${region ? ` in ${region}` : ''}`, 300_000);
  }
  const t2 = performance.now();
  const total = counts.reduce((n, x) => n + x.count, 0);
  const rows = await allHealthy(c, FLEET_APP, total, 120_000);
  const perHost: Record<string, number> = {};
  for (const m of rows) perHost[m.host] = (perHost[m.host] ?? 0) + 1;
  return { firstDeployMs: t1 - t0, scaleMs: t2 - t1, perHost };
}

/**
 * Every machine of the app started and passing its checks, each judged by its own host's node (another
 * node's machine JSON does not carry fresh check results). Returns the machines.
 */
export async function allHealthy(c: Cluster, app: string, n: number, ms: number): Promise<MachineRow[]> {
  return until(
    ms,
    `${n} healthy machines of ${app}`,
    async () => {
      const rows: MachineRow[] = [];
      for (const node of c.nodes) {
        const r = await node.api<MachineRow[]>('GET', `/v1/apps/${app}/machines`);
        if (r.status !== 200) return undefined;
        rows.push(...r.body.filter((m) => m.host === node.name));
      }
      const ok = rows.filter((m) => m.state === 'started' && m.checks.length > 0 && m.checks.every((x) => x.status === 'passing'));
      return rows.length === n && ok.length === n ? rows : undefined;
    },
    250,
  );
}

export interface DeployRun {
  /** The MESSAGE this deploy set (names the release). */
  message: string;
  exit: number;
  error?: string;
  wallMs: number;
  /** The deploy's first event → its `done` event (the part the deploying node runs). */
  daemonMs: number;
  batches: number;
  segments: Segment[];
  /** Requests of the load window (SETTLE_MS before the deploy to SETTLE_MS after). */
  total: number;
  failed: number;
  failures: Record<string, number>;
  /** Failed requests in the window, by load loop. */
  failedByLoop: Record<string, number>;
  /** 200s by the release message that answered (v1 before the switch, v2 after). */
  served: Record<string, number>;
  /** 200s by the host of the machine that answered them. */
  answeredOn: Record<string, number>;
  /** 200s whose `hangar-machine` header names another machine than the one whose body answered. */
  mislabelled: number;
  latencyP99Ms: number;
  /** Machines on this deploy's MESSAGE after it, of all. */
  updated: number;
  machines: number;
}

/**
 * The load every deploy runs under, through `entry`'s proxy: GETs asking for no region, for fra and for
 * sjc (on one host the regions match nothing and change nothing), and POSTs with a body asking for fra,
 * which the proxy cannot replay on another machine once sent.
 */
export function deployLoad(entry: ClusterNode): LoopSpec[] {
  const base = { address: entry.host.address, host: `${FLEET_APP}.localhost`, workers: 2, rps: 25 };
  return [
    { ...base, via: 'GET' },
    { ...base, via: 'GET prefer fra', headers: { 'fly-prefer-region': 'fra' } },
    { ...base, via: 'GET prefer sjc', headers: { 'fly-prefer-region': 'sjc' } },
    { ...base, via: 'POST prefer fra', headers: { 'fly-prefer-region': 'fra' }, postBody: 'a small body' },
  ];
}

/** The timed rolling deploy: `hangar deploy DIR -e MESSAGE=<message> --json` through `via`, load through `entry`. */
export async function timedDeploy(scope: Scope, via: ClusterNode, entry: ClusterNode, dir: string, message: string): Promise<DeployRun> {
  const load = new Loops(deployLoad(entry), { maxMs: DEPLOY_TIMEOUT_MS + 4 * SETTLE_MS }).start();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const r = await scope.cli(via, ['deploy', dir, '-e', `MESSAGE=${message}`, '--json'], DEPLOY_TIMEOUT_MS);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const shots = await load.stop();
  const events = parseEvents(r.stdout);
  const done = events.find((e) => e.event.type === 'done');
  const epoch = (t: number) => performance.timeOrigin + t;
  const rows = (await via.api<MachineRow[]>('GET', `/v1/apps/${FLEET_APP}/machines`)).body;
  const hostOf = new Map(rows.map((m) => [m.id, m.host]));
  const release = (done?.event as { release?: number } | undefined)?.release;
  const segments = breakdown(events, epoch(r.startedAt), epoch(r.endedAt));
  if (release !== undefined && events[0]) segments.splice(0, 1, ...(await beforeFirstEvent(via, release, epoch(r.startedAt), Date.parse(events[0].at))));
  return {
    message,
    exit: r.status,
    error: r.status === 0 ? undefined : (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-6).join(' ⏎ ').slice(0, 600),
    wallMs: r.endedAt - r.startedAt,
    daemonMs: done && events[0] ? Date.parse(done.at) - Date.parse(events[0].at) : NaN,
    batches: events.filter((e) => e.event.type === 'phase' && /batch \d+\/\d+/.test(e.event.message ?? '')).length,
    segments,
    total: shots.length,
    failed: failed(shots).length,
    failures: failureKinds(shots),
    failedByLoop: countBy(failed(shots).map((s) => s.via)),
    served: countBy(shots.filter((s) => s.status === 200).map((s) => s.detail)),
    answeredOn: countBy(shots.filter((s) => s.status === 200).map((s) => hostOf.get(s.answeredBy ?? '') ?? '?')),
    mislabelled: shots.filter((s) => s.status === 200 && s.machine && s.answeredBy && s.machine !== s.answeredBy).length,
    latencyP99Ms: p(shots.map((s) => s.endAt - s.sentAt), 99),
    updated: rows.filter((m) => m.config.env.MESSAGE === message).length,
    machines: rows.length,
  };
}

/**
 * The CLI's start → the deploy's first event, cut where the daemon recorded the image (build and
 * upload done) and the release (the submit's checks and the deploy's leases on every machine done).
 */
async function beforeFirstEvent(via: ClusterNode, release: number, cliStart: number, firstEvent: number): Promise<Segment[]> {
  const rel = (await via.api<Array<{ version: number; image: string; created_at: string }>>('GET', `/v1/apps/${FLEET_APP}/releases`)).body.find((x) => x.version === release);
  const img = rel && (await via.api<Array<{ ref: string; created_at: string }>>('GET', `/v1/apps/${FLEET_APP}/images`)).body.find((x) => x.ref === rel.image);
  if (!rel || !img) return [{ name: 'CLI start, build + upload image, submit', ms: firstEvent - cliStart }];
  const imageAt = Date.parse(img.created_at);
  const releaseAt = Date.parse(rel.created_at);
  return [
    { name: 'CLI start → image stored (build, upload)', ms: imageAt - cliStart },
    { name: 'image → release recorded (submit checks, a lease per machine)', ms: releaseAt - imageAt },
    { name: 'release → first event', ms: firstEvent - releaseAt },
  ];
}

async function mustRun(scope: Scope, node: ClusterNode, args: string[], what: string, timeoutMs: number) {
  const r = await scope.cli(node, args, timeoutMs);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return r;
}

export function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/** The p-th percentile (nearest rank) of the finite values; NaN for none. */
export function p(xs: number[], pc: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((pc / 100) * s.length) - 1))]!;
}

export type { Shot };
