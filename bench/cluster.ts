/**
 * bench:cluster — hangar on several hosts, simulated on one machine with the cluster test harness
 * (test/cluster/cluster.ts: one PostgreSQL, one node per network namespace). Five hosts in three regions
 * (ams-1, ams-2, fra-1, fra-2, sjc-1) and 50 machines of one app, 20 + 20 + 10 by region, made through
 * ams-1's API. Measured, each against its peer in the same run or its target:
 *
 *   1. the wall time of a rolling deploy of the 50 (`hangar deploy DIR -e MESSAGE=vN` through ams-1)
 *      over the same deploy of 50 machines on one host (a one-node cluster of its own, same config),
 *      BENCH_DEPLOY_ROUNDS times each (default 3), alternating which side goes first;
 *   2. failed requests during every deploy, under paced load through the deploying node's proxy;
 *   3. routing convergence: a machine's check turns red on its host → the last other proxy stops
 *      routing to it (and back when it turns green), BENCH_TRIALS times (default 5);
 *   4. the machines API (create, list) through a node that does not own the machines over through the
 *      one that does;
 *   5. host down: kill -9 of one node → every other proxy stops sending requests there, and what failed
 *      meanwhile; last, since it leaves the cluster one host short.
 *
 * The nodes run with hangar's default host timing (heartbeat 1 s, --host-down-after 10 s). Everything is
 * bounded (BENCH_MAX_MINUTES, default 15, for the whole run) and removed at the end, on failure and on
 * Ctrl-C too: CLI processes, nodes and their machines (by pid), PostgreSQL, namespaces, temp dirs.
 *
 *   npm run bench:cluster     (root; PostgreSQL server binaries installed)
 */
import { availableParallelism, loadavg } from 'node:os';
import { clusterSupport, startCluster } from '../test/cluster/cluster.js';
import { postgresAvailable } from '../test/support/postgres.js';
import { apiTimings } from './cluster-api.js';
import { convergence } from './cluster-converge.js';
import { allHealthy, buildFleet, FLEET_APP, fleetDir, timedDeploy, type DeployRun } from './cluster-deploy.js';
import { hostDown } from './cluster-hostdown.js';
import { printReport, type Report } from './cluster-report.js';
import { Scope } from './cluster-scope.js';

const HOSTS = [
  { name: 'ams-1', region: 'ams' },
  { name: 'ams-2', region: 'ams' },
  { name: 'fra-1', region: 'fra' },
  { name: 'fra-2', region: 'fra' },
  { name: 'sjc-1', region: 'sjc' },
];
const PER_REGION = [
  { region: 'ams', count: 20 },
  { region: 'fra', count: 20 },
  { region: 'sjc', count: 10 },
];
const MACHINES = PER_REGION.reduce((n, r) => n + r.count, 0);
/** hangar's own defaults, written out: the harness would otherwise give the nodes its fast test intervals. */
const TIMING = { heartbeat: '1s', downAfter: '10s' };
const CLUSTER_OPTS = { downAfter: TIMING.downAfter, env: { HANGAR_HEARTBEAT_INTERVAL: TIMING.heartbeat } };
const ROUNDS = positiveInt('BENCH_DEPLOY_ROUNDS', 3);
const TRIALS = positiveInt('BENCH_TRIALS', 5);
const CREATES = positiveInt('BENCH_API_CREATES', 8);
const LISTS = positiveInt('BENCH_API_LISTS', 30);
const MAX_MINUTES = positiveInt('BENCH_MAX_MINUTES', 15);

const say = (line: string) => console.error(`bench:cluster: ${line}`);

async function main(root: Scope): Promise<void> {
  const support = clusterSupport();
  if (!support.ok) throw new Error(support.reason);
  const pg = postgresAvailable();
  if (!pg.ok) throw new Error(pg.reason);
  const started = performance.now();
  const loadBefore = loadavg()[0]!;

  say(`one host: starting PostgreSQL and one node, ${MACHINES} machines`);
  const soloScope = root.child();
  const solo = await startCluster(soloScope, [{ name: 'one-1', region: 'ams' }], CLUSTER_OPTS);
  const one = solo.nodes[0]!;
  const soloDir = fleetDir(soloScope);
  const soloSetup = await buildFleet(soloScope, solo, one, soloDir, [{ count: MACHINES }]);

  say(`${HOSTS.length} hosts: starting PostgreSQL and the nodes, ${MACHINES} machines`);
  const c = await startCluster(root, HOSTS, CLUSTER_OPTS);
  const ams1 = c.node('ams-1');
  const dir = fleetDir(root);
  const setup = await buildFleet(root, c, ams1, dir, PER_REGION);
  say(`${HOSTS.length} hosts: ${MACHINES} machines healthy (${JSON.stringify(setup.perHost)})`);

  // Both fleets stay up through the rounds, so each side's deploys share the machine with the same
  // idle neighbour, and with whatever else runs on the machine at about the same time.
  const soloRuns: DeployRun[] = [];
  const clusterRuns: DeployRun[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const message = `v${2 + i}`;
    const sides = [
      async () => soloRuns.push(await timedDeploy(soloScope, one, one, soloDir, message)),
      async () => clusterRuns.push(await timedDeploy(root, ams1, ams1, dir, message)),
    ];
    for (const side of i % 2 === 0 ? sides : sides.reverse()) await side();
    const [a, b] = [soloRuns.at(-1)!, clusterRuns.at(-1)!];
    say(`deploy round ${i + 1}/${ROUNDS} (${message}): one host exit ${a.exit} ${(a.wallMs / 1000).toFixed(1)} s, ${a.failed} failed; ${HOSTS.length} hosts exit ${b.exit} ${(b.wallMs / 1000).toFixed(1)} s, ${b.failed} failed`);
  }
  say('one host: tearing it down');
  await soloScope.close();
  const fleet = await allHealthy(c, FLEET_APP, MACHINES, 60_000);

  say(`convergence: ${TRIALS} trials`);
  const conv = await convergence(root, c, TRIALS);
  say(`API: ${CREATES} creates and ${LISTS} lists each way`);
  const api = await apiTimings(c, CREATES, LISTS);
  say('host down: kill -9 of fra-2');
  const down = await hostDown(c, fleet);

  const report: Report = {
    hosts: HOSTS,
    machines: MACHINES,
    trials: TRIALS,
    timing: TIMING,
    host: { cpus: availableParallelism(), loadBefore, loadAfter: loadavg()[0]! },
    totalS: (performance.now() - started) / 1000,
    solo: { setup: soloSetup, deploys: soloRuns },
    cluster: { setup, deploys: clusterRuns },
    convergence: conv,
    api,
    down,
  };
  printReport(report);
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a whole number > 0, got ${JSON.stringify(raw)}`);
  return n;
}

const root = new Scope();
const bail = (why: string, code: number) => {
  say(`${why}: cleaning up`);
  void root.close().finally(() => process.exit(code));
};
process.once('SIGINT', () => bail('SIGINT', 130));
process.once('SIGTERM', () => bail('SIGTERM', 143));
const watchdog = setTimeout(() => bail(`still running after ${MAX_MINUTES} minutes (BENCH_MAX_MINUTES)`, 1), MAX_MINUTES * 60_000);
try {
  await main(root);
} catch (err) {
  console.error(root.closing ? `stopped: ${(err as Error).message}` : err);
  process.exitCode = 1;
} finally {
  clearTimeout(watchdog);
  say('cleaning up');
  await root.close();
}
