/**
 * bench:cluster's output: each measurement with what it was compared with, the targets as met/MISSED,
 * and last one JSON line of the figures.
 */
import { apiRatios, type ApiFigures } from './cluster-api.js';
import type { ConvergenceFigures, Switch } from './cluster-converge.js';
import { p, type DeployRun, type FleetSetup } from './cluster-deploy.js';
import type { HostDownFigures } from './cluster-hostdown.js';

export const TARGETS = { failedDuringDeploys: 0, convergenceMs: 1000, hostDownMs: 10_000, crossApiRatio: 2 } as const;

export interface Report {
  hosts: Array<{ name: string; region: string }>;
  machines: number;
  trials: number;
  timing: { heartbeat: string; downAfter: string };
  host: { cpus: number; loadBefore: number; loadAfter: number };
  totalS: number;
  solo: { setup: FleetSetup; deploys: DeployRun[] };
  cluster: { setup: FleetSetup; deploys: DeployRun[] };
  convergence: ConvergenceFigures;
  api: ApiFigures;
  down: HostDownFigures;
}

const f = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const s = (ms: number, d = 2) => f(ms / 1000, d);
const verdict = (ok: boolean) => (ok ? 'met   ' : 'MISSED');
const kv = (o: Record<string, number | string>) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';

export function printReport(r: Report): void {
  const regions = [...new Set(r.hosts.map((h) => h.region))];
  const layout = regions.map((g) => `${r.hosts.filter((h) => h.region === g).map((h) => h.name).join(' ')} (${g})`).join(', ');
  console.log(`hangar bench:cluster — ${r.hosts.length} hosts (network namespaces on one machine) in ${regions.length} regions: ${layout}; one PostgreSQL; ${r.machines} machines of one app (echo, /health every 100 ms)`);
  console.log(`host: ${r.host.cpus} CPUs shared by every node, machine and the load; 1-min load average ${f(r.host.loadBefore, 2)} before, ${f(r.host.loadAfter, 2)} after (other work on the machine included); run took ${f(r.totalS)} s`);
  console.log(`node intervals: heartbeat ${r.timing.heartbeat}, --host-down-after ${r.timing.downAfter} (hangar's defaults; the test harness's own are 200 ms and 2 s)`);
  console.log('');
  printDeploys(r);
  printConvergence(r.convergence);
  printApi(r.api);
  printHostDown(r.down);
  console.log('targets:');
  for (const t of targets(r)) console.log(`  ${verdict(t.ok)} ${t.name}: ${t.detail}`);
  console.log(JSON.stringify(figures(r)));
}

/** The round with the median wall time (of those that completed, if any did). */
function medianRun(xs: DeployRun[]): DeployRun {
  const ok = xs.some((x) => x.exit === 0) ? xs.filter((x) => x.exit === 0) : xs;
  return [...ok].sort((x, y) => x.wallMs - y.wallMs)[Math.floor((ok.length - 1) / 2)]!;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function printDeploys(r: Report): void {
  const { solo, cluster } = r;
  const n = solo.deploys.length;
  console.log(`setup (first deploy, then scale count per region, through one node's API): one host ${s(solo.setup.firstDeployMs)} + ${s(solo.setup.scaleMs)} s; ${r.hosts.length} hosts ${s(cluster.setup.firstDeployMs)} + ${s(cluster.setup.scaleMs)} s (machines per host: ${kv(cluster.setup.perHost)})`);
  console.log(`1. rolling deploy of all ${r.machines} machines, ${n} rounds a side, alternating which goes first (both fleets up meanwhile): hangar deploy DIR -e MESSAGE=vN --json through one node;`);
  console.log('   load through that node\'s proxy: 4 loops of 2 workers × 25 req/s (GETs preferring no region, fra, sjc; POSTs preferring fra)');
  console.log('   side       round  exit   wall s   daemon s   batches   requests   failed   p99 ms   on vN');
  for (const [name, runs] of [['one host', solo.deploys], [`${r.hosts.length} hosts`, cluster.deploys]] as const) {
    for (const [i, d] of runs.entries()) {
      console.log(`   ${name.padEnd(10)} ${String(i + 1).padStart(5)} ${String(d.exit).padStart(5)} ${s(d.wallMs).padStart(8)} ${s(d.daemonMs).padStart(10)} ${String(d.batches).padStart(9)} ${String(d.total).padStart(10)} ${String(d.failed).padStart(8)} ${f(d.latencyP99Ms).padStart(8)}   ${d.updated}/${d.machines}`);
    }
  }
  const [ms, mc] = [medianRun(solo.deploys), medianRun(cluster.deploys)];
  const paired = cluster.deploys.map((d, i) => d.wallMs / solo.deploys[i]!.wallMs);
  console.log(`   cluster / one host wall time, medians: ${f(mc.wallMs / ms.wallMs, 2)}× (${s(mc.wallMs)} s / ${s(ms.wallMs)} s; daemon part ${f(mc.daemonMs / ms.daemonMs, 2)}×); round by round: ${paired.map((x) => `${f(x, 2)}×`).join(', ')}`);
  for (const [name, d] of [['one host', ms], ['cluster', mc]] as const) {
    console.log(`   ${name} median round (${d.message}), where the time went: ${d.segments.map((g) => `${g.name} ${s(g.ms)} s`).join('; ')}`);
  }
  for (const d of [...solo.deploys, ...cluster.deploys]) if (d.error) console.log(`   deploy ${d.message} FAILED: ${d.error}`);
  const failedOf = (xs: DeployRun[]) => `${sum(xs.map((x) => x.failed))} of ${sum(xs.map((x) => x.total))}`;
  console.log(`2. failed requests during the cluster deploys: ${failedOf(cluster.deploys)} (one host: ${failedOf(solo.deploys)})`);
  for (const d of cluster.deploys) {
    console.log(`   cluster ${d.message}: failures by kind ${kv(d.failures)}; by loop ${kv(d.failedByLoop)}; 200s by release ${kv(d.served)}; by the host that answered ${kv(d.answeredOn)}; hangar-machine header ≠ the machine that answered: ${d.mislabelled}`);
  }
  for (const d of solo.deploys) if (d.failed) console.log(`   one host ${d.message}: failures by kind ${kv(d.failures)}; by loop ${kv(d.failedByLoop)}`);
  console.log('');
}

function printConvergence(c: ConvergenceFigures): void {
  const red = c.trials.map((t) => t.red);
  const green = c.trials.map((t) => t.green);
  console.log(`3. routing convergence: machine X (alone in sjc, on ${c.owner}) fails /health; each proxy probed every 10 ms with a POST asking for sjc (X while routable there, else a fra machine; a POST is never replayed, so a stale pick shows); ${c.trials.length} trials`);
  const row = (w: Switch) => Object.entries(w.fromFlagMs).map(([n, ms]) => `${n} ${f(ms)}`).join(', ');
  for (const [i, t] of c.trials.entries()) {
    console.log(`   trial ${i + 1} red:   flag → first probe off X (ms): ${row(t.red)}; last other proxy ${f(t.red.lastLagMs)} ms after ${c.owner}; flip-backs ${t.red.flipBacks}, failed ${t.red.failed}`);
    console.log(`   trial ${i + 1} green: flag gone → first probe on X (ms): ${row(t.green)}; last other proxy ${f(t.green.lastLagMs)} ms after ${c.owner}; flip-backs ${t.green.flipBacks}, failed ${t.green.failed}`);
  }
  console.log(`   (failed = POSTs a proxy still sent to X after ${c.owner} had taken it out: ${c.owner} refuses the relay with a 503, which a POST cannot be replayed past)`);
  const gaps = [...red, ...green].flatMap((w) => Object.values(w.gapMs));
  console.log(`   check red on ${c.owner} → last of the other 4 proxies off X: max ${f(Math.max(...red.map((w) => w.lastLagMs)))} ms, p50 ${f(p(red.map((w) => w.lastLagMs), 50))} ms; green → all back on X: max ${f(Math.max(...green.map((w) => w.lastLagMs)))} ms, p50 ${f(p(green.map((w) => w.lastLagMs), 50))} ms`);
  console.log(`   flag file → ${c.owner}'s own proxy off X (check interval + detection): p50 ${f(p(red.map((w) => w.fromFlagMs[c.owner]!), 50))} ms; probe resolution (gap between consecutive probes) p50 ${f(p(gaps, 50))} ms, max ${f(Math.max(...gaps.filter(Number.isFinite)))} ms`);
  console.log('');
}

function printApi(a: ApiFigures): void {
  const x = apiRatios(a);
  console.log(`4. machines API, p50 through ${a.cross} (cross-node) vs through ${a.local} (owns the machines); alternating; ${a.create.local.length} creates and ${a.list.local.length} lists (${a.list.machines} machines) each way`);
  console.log(`   create machine: local ${f(x.create.local, 1)} ms, cross-node ${f(x.create.cross, 1)} ms → ${f(x.create.ratio, 2)}×   (max local ${f(Math.max(...a.create.local))}, cross ${f(Math.max(...a.create.cross))} ms)`);
  console.log(`   list machines:  local ${f(x.list.local, 1)} ms, cross-node ${f(x.list.cross, 1)} ms → ${f(x.list.ratio, 2)}×`);
  console.log(`   a fleet machine of ${a.local}: its checks as ${a.local} shows them: ${a.checksSeen.owner}; as ${a.cross} shows them: ${a.checksSeen.other}`);
  console.log('');
}

function printHostDown(d: HostDownFigures): void {
  console.log(`5. host down: kill -9 of ${d.victim}'s node (${d.victimMachines} fleet machines keep running, unreachable); load through every other proxy preferring fra (2 workers × 25 req/s each); node killed in ${f(d.killMs)} ms${d.settled ? '' : '; NOT every node went quiet before the deadline'}`);
  console.log('   node     sent to victim before   traffic off s   ± ms   attempts on victim after   failed after kill   last failure s   failed after off   victim at end');
  for (const n of d.nodes) {
    console.log(`   ${n.name.padEnd(8)} ${`${n.toVictimBefore}/${n.requestsBefore}`.padStart(21)} ${s(n.trafficOffMs).padStart(15)} ${f(n.resolutionMs).padStart(6)} ${String(n.attemptsAfter).padStart(26)} ${`${n.failed}/${n.requestsAfter}`.padStart(19)} ${s(n.lastFailureMs).padStart(16)} ${String(n.failedAfterOff).padStart(18)}   ${n.stateAtEnd}`);
  }
  console.log(`   failures after the kill by kind: ${kv(d.failures)}`);
  console.log('   (a node judges a host down once it has not seen its heartbeat counter move for --host-down-after, checked at its own heartbeat ticks:');
  console.log('    with 1 s beats the last move is seen up to 1 s either side of the death and judged up to 1 s late, so traffic goes off 9–12 s after the kill)');
  console.log('');
}

function targets(r: Report) {
  const red = r.convergence.trials.map((t) => t.red.lastLagMs);
  const sending = r.down.nodes.filter((n) => n.toVictimBefore > 0);
  const off = Math.max(...sending.map((n) => n.trafficOffMs));
  const api = apiRatios(r.api);
  const all = [...r.cluster.deploys, ...r.solo.deploys];
  const fc = sum(r.cluster.deploys.map((x) => x.failed));
  const fs = sum(r.solo.deploys.map((x) => x.failed));
  return [
    { name: '0 failed requests during deploys', ok: fc + fs === TARGETS.failedDuringDeploys && all.every((x) => x.exit === 0), detail: `cluster ${fc} of ${sum(r.cluster.deploys.map((x) => x.total))}, one host ${fs} of ${sum(r.solo.deploys.map((x) => x.total))} (${all.length} deploys${all.every((x) => x.exit === 0) ? ', all completed' : ', NOT all completed'})` },
    { name: 'routing convergence < 1 s', ok: red.every((x) => x < TARGETS.convergenceMs), detail: `check red on the owner → last other proxy off it: max ${f(Math.max(...red))} ms, p50 ${f(p(red, 50))} ms over ${red.length} trials` },
    { name: 'host down → traffic off < 10 s', ok: sending.length > 0 && r.down.settled && off < TARGETS.hostDownMs, detail: `kill → the last proxy that sent there stopped: ${s(off)} s (${sending.length} of ${r.down.nodes.length} proxies were sending there); ${r.down.nodes.reduce((n, x) => n + x.failed, 0)} requests failed meanwhile; --host-down-after ${r.timing.downAfter}` },
    { name: 'cross-node API p50 within 2× of local', ok: api.create.ratio <= TARGETS.crossApiRatio && api.list.ratio <= TARGETS.crossApiRatio, detail: `create ${f(api.create.ratio, 2)}×, list ${f(api.list.ratio, 2)}×` },
  ];
}

const r1 = (x: number, d = 1) => (Number.isFinite(x) ? Number(x.toFixed(d)) : null);

function figures(r: Report) {
  const api = apiRatios(r.api);
  const red = r.convergence.trials.map((t) => t.red.lastLagMs);
  const green = r.convergence.trials.map((t) => t.green.lastLagMs);
  const dep = (d: DeployRun) => ({ message: d.message, exit: d.exit, wall_s: r1(d.wallMs / 1000, 2), daemon_s: r1(d.daemonMs / 1000, 2), batches: d.batches, requests: d.total, failed: d.failed, p99_ms: r1(d.latencyP99Ms, 0) });
  return {
    hosts: r.hosts.length,
    regions: new Set(r.hosts.map((h) => h.region)).size,
    machines: r.machines,
    cpus: r.host.cpus,
    load_before: r1(r.host.loadBefore, 2),
    load_after: r1(r.host.loadAfter, 2),
    heartbeat: r.timing.heartbeat,
    host_down_after: r.timing.downAfter,
    total_s: r1(r.totalS, 0),
    deploy: {
      rounds: r.solo.deploys.length,
      one_host: r.solo.deploys.map(dep),
      cluster: r.cluster.deploys.map(dep),
      wall_ratio_of_medians: r1(medianRun(r.cluster.deploys).wallMs / medianRun(r.solo.deploys).wallMs, 2),
      scale_s: { one_host: r1(r.solo.setup.scaleMs / 1000, 2), cluster: r1(r.cluster.setup.scaleMs / 1000, 2) },
    },
    convergence_ms: { trials: red.length, red_max: r1(Math.max(...red), 0), red_p50: r1(p(red, 50), 0), green_max: r1(Math.max(...green), 0), green_p50: r1(p(green, 50), 0) },
    host_down: { victim: r.down.victim, settled: r.down.settled, nodes: Object.fromEntries(r.down.nodes.map((n) => [n.name, { to_victim_before: n.toVictimBefore, traffic_off_s: r1(n.trafficOffMs / 1000, 2), failed: n.failed, failed_after_off: n.failedAfterOff }])) },
    api_p50_ms: { create_local: r1(api.create.local), create_cross: r1(api.create.cross), create_ratio: r1(api.create.ratio, 2), list_local: r1(api.list.local), list_cross: r1(api.list.cross), list_ratio: r1(api.list.ratio, 2) },
    targets: Object.fromEntries(targets(r).map((t) => [t.name, t.ok])),
  };
}
