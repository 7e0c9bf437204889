/**
 * bench:deploy's output: one table row per scenario (all rounds together), whether the targets were
 * met, where each scenario's time went (the median round's own event timeline, and per-machine phases
 * over all rounds), every failed request grouped by outcome and time, and last one JSON line.
 */
import { pct, round, type CanaryFigures, type LoadStats, type MachinePhases, type Segment } from './deploy-report.js';

export type ScenarioName = 'rolling' | 'immediate' | 'rollback' | 'bluegreen' | 'canary';
const SCENARIOS: ScenarioName[] = ['rolling', 'immediate', 'rollback', 'bluegreen', 'canary'];
/** Scenarios judged on wall/least (the others have no boot-count floor here; bluegreen: failed + wall, canary: its own figures). */
const HAS_LEAST = (n: ScenarioName) => n === 'rolling' || n === 'immediate' || n === 'rollback';
/** Breach (the abort decision) → the last response a canary served. */
export const TARGET_BREACH_MS = 1000;

export const TARGET_RATIO = 1.2;
/** Requests slower than this while a deploy runs are counted by which release answered them. */
export const SLOW_MS = 200;
/** The app's check interval (hangar.toml): the daemon sees an app ready at the first probe after it is. */
const CHECK_INTERVAL_MS = 100;

export interface Round {
  name: ScenarioName;
  round: number;
  exit: number;
  /** The start of the CLI's output when it exited non-zero. */
  error?: string;
  release: string;
  wallMs: number;
  /** The deploy's first event → its `done` event: the part that runs in the daemon. */
  daemonMs: number;
  batchesSeen: number;
  during: LoadStats;
  duringMs: number[];
  before: LoadStats;
  window: LoadStats;
  segments: Segment[];
  phases: MachinePhases;
  /** p99 latency per 250 ms while the deploy ran. */
  timeline: string;
  /** Requests over SLOW_MS during the deploy, by the release message that answered (or the status). */
  slow: Record<string, number>;
  failures: string[];
  onRelease: string;
  canary?: CanaryFigures;
}

export interface Bench {
  machines: number;
  rps: number;
  maxUnavailable: number;
  batches: number;
  bootIdle: number[];
  bootLoaded: number[];
  cliFloor: number[];
  rounds: Round[];
  host: { cpus: number; loadBefore: number; loadAfter: number };
}

interface Row {
  name: ScenarioName;
  rounds: Round[];
  failed: number;
  total: number;
  wallS: number;
  leastS: number;
  ratio: number;
  daemonS: number;
  p99During: number;
  maxDuring: number;
  p99Before: number;
  median: Round;
}

const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function rowOf(b: Bench, name: ScenarioName): Row | undefined {
  const rounds = b.rounds.filter((r) => r.name === name);
  if (rounds.length === 0) return undefined;
  const boots = !HAS_LEAST(name) ? NaN : name === 'immediate' ? 1 : b.batches;
  // Times come from the rounds whose deploy completed; a crashed CLI's short wall time says nothing.
  const ok = rounds.some((r) => r.exit === 0) ? rounds.filter((r) => r.exit === 0) : rounds;
  const wall = pct(ok.map((r) => r.wallMs), 50);
  const during = rounds.flatMap((r) => r.duringMs);
  return {
    name,
    rounds,
    failed: sum(rounds.map((r) => r.window.failed)),
    total: sum(rounds.map((r) => r.window.total)),
    wallS: wall / 1000,
    leastS: (boots * pct(b.bootIdle, 50)) / 1000,
    ratio: wall / (boots * pct(b.bootIdle, 50)),
    daemonS: pct(ok.map((r) => r.daemonMs), 50) / 1000,
    p99During: pct(during, 99),
    maxDuring: pct(during, 100),
    p99Before: pct(rounds.map((r) => r.before.p99_ms), 50),
    median: [...ok].sort((x, y) => x.wallMs - y.wallMs)[Math.floor((ok.length - 1) / 2)]!,
  };
}

export function printReport(b: Bench): void {
  const rows = SCENARIOS.map((n) => rowOf(b, n)).filter((r): r is Row => r !== undefined);
  const boot = pct(b.bootIdle, 50);
  const rounds = rows[0]?.rounds.length ?? 0;
  console.log(`hangar bench:deploy — ${b.machines} machines, ${b.rps} req/s open-loop through the proxy, max_unavailable ${b.maxUnavailable} (${b.batches} rolling batches), ${rounds} round(s)`);
  console.log(`host: ${b.host.cpus} CPUs, 1-min load average ${f(b.host.loadBefore, 2)} before the run and ${f(b.host.loadAfter, 2)} after (others' processes included)`);
  console.log(`echo app boot + first passing /health (bare node, probed every 2 ms; median of ${b.bootIdle.length}): idle ${f(boot, 0)} ms, under load ${f(pct(b.bootLoaded, 50), 0)} ms; CLI floor (start, one API call, exit) ${f(pct(b.cliFloor, 50), 0)} ms`);
  console.log('least = boot × batches (immediate: × 1); wall = the deploy command, median of the rounds that completed; daemon = its first event → done; bluegreen and canary run once each, after the rounds');
  console.log('');
  console.log('scenario    failed   total   wall s   least s   ratio   daemon s   daemon/least   p99 ms   max ms   p99 ms before');
  for (const r of rows) {
    const cells = [f(r.wallS, 2).padStart(8), f(r.leastS, 2).padStart(9), f(r.ratio).padStart(7), f(r.daemonS, 2).padStart(10), f(r.daemonS / r.leastS).padStart(14), f(r.p99During).padStart(8), f(r.maxDuring).padStart(8), f(r.p99Before).padStart(15)];
    console.log(`${r.name.padEnd(10)} ${String(r.failed).padStart(7)} ${String(r.total).padStart(7)} ${cells.join(' ')}`);
  }
  console.log('');
  for (const r of rows) {
    if (r.name === 'bluegreen') {
      const x = r.rounds[0]!;
      console.log(`bluegreen: failed requests = 0 ${r.failed === 0 ? 'met' : 'MISSED'} (${r.failed} of ${r.total}); wall ${f(x.wallMs / 1000, 2)} s (no target); ${x.exit === 0 ? 'the deploy completed' : `the deploy command FAILED (exit ${x.exit}, see below)`}`);
      continue;
    }
    if (r.name === 'canary') {
      printCanary(r.rounds[0]!);
      continue;
    }
    const bad = r.rounds.filter((x) => x.exit !== 0).length;
    const exits = bad === 0 ? 'every deploy completed' : `${bad} of ${r.rounds.length} deploy command(s) FAILED (see below)`;
    console.log(`${r.name}: failed requests = 0 ${r.failed === 0 ? 'met' : 'MISSED'} (${r.failed} of ${r.total}); wall/least ≤ ${TARGET_RATIO} ${r.ratio <= TARGET_RATIO ? 'met' : 'MISSED'} (${f(r.ratio)}); ${exits}`);
  }
  console.log('');
  for (const r of rows) printWhere(b, r);
  console.log(JSON.stringify(figures(b, rows)));
}

/** The median round's timeline, per-machine phases over every round, and every failure. */
function printWhere(b: Bench, r: Row): void {
  const boots = r.name === 'immediate' ? 1 : b.batches;
  const quantised = boots * Math.ceil(pct(b.bootIdle, 50) / CHECK_INTERVAL_MS) * CHECK_INTERVAL_MS;
  console.log(`${r.name} — rounds: ${r.rounds.map((x) => `${f(x.wallMs / 1000, 2)} s (exit ${x.exit}, ${x.release}, machines on ${x.onRelease})`).join('; ')}`);
  for (const x of r.rounds) if (x.error) console.log(`  round ${x.round} exited ${x.exit}: ${x.error}`);
  for (const x of r.rounds) console.log(`  round ${x.round} segments (s): ${x.segments.map((g) => f(g.ms / 1000, 2)).join(' + ')}`);
  console.log(`  timeline of the median round (${r.median.round}):`);
  for (const s of r.median.segments) console.log(`    ${f(s.ms / 1000, 3).padStart(6)} s  ${s.name}`);
  if (r.name === 'rolling' || r.name === 'rollback') {
    const seen = [...new Set(r.rounds.map((x) => x.batchesSeen))];
    if (seen.length !== 1 || seen[0] !== b.batches) console.log(`  note: the deploys reported ${seen.join('/')} batches; the least time assumes ${b.batches}`);
  }
  const ph = (k: keyof MachinePhases) => {
    const xs = r.rounds.flatMap((x) => x.phases[k]);
    return `p50 ${f(pct(xs, 50), 0)} ms, max ${f(pct(xs, 100), 0)} ms`;
  };
  const n = r.rounds.reduce((a, x) => a + x.phases.startedToOutcome.length, 0);
  const labels = r.name === 'immediate' ? ['old instance drained + stopped, new one spawned', 'started', 'passing its checks'] : ['new instance spawned', 'passed its checks, traffic switched', 'old instance drained + stopped'];
  if (n > 0 || HAS_LEAST(r.name)) console.log(`  per machine (${n}): updating → ${labels[0]} ${ph('toSpawn')}; → ${labels[1]} ${ph('spawnToStarted')}; → ${labels[2]} ${ph('startedToOutcome')}`);
  if (HAS_LEAST(r.name)) console.log(`  with the app's ${CHECK_INTERVAL_MS} ms check interval the daemon cannot see a ${f(pct(b.bootIdle, 50), 0)} ms boot before ${quantised / boots} ms: ${boots} × that = ${f(quantised / 1000, 2)} s`);
  console.log(`  p99 latency per 250 ms while the median round deployed (ms, * = failures): ${r.median.timeline}`);
  const slow = r.rounds.map((x) => Object.entries(x.slow).map(([k, n]) => `${k}=${n}`).join(' ') || 'none').join(' | ');
  console.log(`  requests over ${SLOW_MS} ms during the deploy, by who answered: ${slow}`);
  const served = r.rounds.map((x) => Object.entries(x.window.served).map(([k, n]) => `${k}=${n}`).join(' ')).join(' | ');
  console.log(`  200s by release message: ${served}; generator send lag p99 ${f(Math.max(...r.rounds.map((x) => x.window.lag_p99_ms)))} ms`);
  const failures = r.rounds.flatMap((x) => x.failures.map((l) => `round ${x.round}: ${l}`));
  for (const l of failures.slice(0, 15)) console.log(`  failed ${l}`);
  if (failures.length > 15) console.log(`  … ${failures.length - 15} more runs of failures`);
  if (failures.length === 0) console.log('  no failed request');
  console.log('');
}

/** The bad canary's three figures against their targets. */
function printCanary(x: Round): void {
  const c = x.canary;
  if (!c) return console.log('canary: no figures (the scenario did not run)');
  console.log(`canary (bad version, FAIL_RATE=0.3, steps [5, 25, 50]): ${x.exit === 1 ? 'deploy exited 1 as a rolled-back canary should' : `deploy exited ${x.exit}`}; release ${x.release}; canaries ${c.canaryIds.join(',') || 'none seen'}`);
  console.log(`  decision: ${c.verdict ?? 'none'}${c.step !== undefined ? ` at step ${c.step}` : ''}${c.reason ? ` — ${c.reason}` : ''}`);
  console.log(`  aborted at step 1 ${c.abortedAtStep1 ? 'met' : 'MISSED'}`);
  console.log(`  canary phase (step 1 start → traffic back on stable, by the deploy's events): ${f(c.phaseMs / 1000, 2)} s, ${c.phaseRequests} requests, ${c.phaseToCanary} of them answered by the canary (${f((100 * c.phaseToCanary) / c.phaseRequests, 1)}%)`);
  console.log(`  failed requests users saw ≤ 5% × 30% × ${c.phaseRequests} = ${f(c.expectedFailed, 1)} + margin ${f(c.allowedFailed - c.expectedFailed, 1)} = ${f(c.allowedFailed, 1)}: ${c.failed <= c.allowedFailed ? 'met' : 'MISSED'} (${c.failed} failed in the whole load window, ${c.failedByCanary} of them answered by the canary)`);
  console.log(`  breach → 100 % stable < ${TARGET_BREACH_MS} ms ${c.breachToStableMs < TARGET_BREACH_MS ? 'met' : 'MISSED'}: ${f(c.breachToStableMs, 0)} ms from the abort decision's event to the end of the last response a canary served (last request a canary answered was sent ${f(c.breachToLastCanarySendMs, 0)} ms after the decision)`);
}

function figures(b: Bench, rows: Row[]) {
  return {
    machines: b.machines,
    rps: b.rps,
    rounds: rows[0]?.rounds.length ?? 0,
    host: { cpus: b.host.cpus, load_before: round(b.host.loadBefore, 2), load_after: round(b.host.loadAfter, 2) },
    boot_ms: round(pct(b.bootIdle, 50)),
    boot_loaded_ms: round(pct(b.bootLoaded, 50)),
    cli_floor_ms: round(pct(b.cliFloor, 50), 0),
    scenarios: Object.fromEntries(
      rows.map((r) => [
        r.name,
        {
          failed: r.failed,
          total: r.total,
          wall_s: round(r.wallS, 2),
          wall_s_rounds: r.rounds.map((x) => round(x.wallMs / 1000, 2)),
          least_s: round(r.leastS, 3),
          ratio: round(r.ratio, 2),
          daemon_s: round(r.daemonS, 2),
          p99_ms_during: round(r.p99During),
          max_ms_during: round(r.maxDuring),
          p99_ms_before: round(r.p99Before),
          exits: r.rounds.map((x) => x.exit),
          machine_p50_ms: Object.fromEntries((['toSpawn', 'spawnToStarted', 'startedToOutcome'] as const).map((k) => [k, round(pct(r.rounds.flatMap((x) => x.phases[k]), 50), 0)])),
          segments_ms_median_round: Object.fromEntries(r.median.segments.map((s) => [s.name, Math.round(s.ms)])),
          ...(r.rounds[0]?.canary ? { canary: canaryJson(r.rounds[0].canary) } : {}),
        },
      ]),
    ),
    targets: Object.fromEntries(rows.map((r) => [r.name, targetsOf(r)])),
  };
}

function targetsOf(r: Row) {
  if (r.name === 'bluegreen') return { zero_failed: r.failed === 0, all_completed: r.rounds.every((x) => x.exit === 0) };
  if (r.name === 'canary') {
    const c = r.rounds[0]?.canary;
    return { failed_le_allowed: c ? c.failed <= c.allowedFailed : false, aborted_at_step_1: c?.abortedAtStep1 ?? false, breach_to_stable_lt_1s: c ? c.breachToStableMs < TARGET_BREACH_MS : false };
  }
  return { zero_failed: r.failed === 0, ratio_le_1_2: r.ratio <= TARGET_RATIO, all_completed: r.rounds.every((x) => x.exit === 0) };
}

function canaryJson(c: CanaryFigures) {
  return {
    canary_ids: c.canaryIds,
    decision: c.verdict ?? null,
    decision_step: c.step ?? null,
    aborted_at_step_1: c.abortedAtStep1,
    phase_s: round(c.phaseMs / 1000, 2),
    phase_requests: c.phaseRequests,
    phase_to_canary: c.phaseToCanary,
    failed: c.failed,
    failed_by_canary: c.failedByCanary,
    expected_failed: round(c.expectedFailed, 1),
    allowed_failed: round(c.allowedFailed, 1),
    breach_to_stable_ms: round(c.breachToStableMs, 0),
    breach_to_last_canary_send_ms: round(c.breachToLastCanarySendMs, 0),
  };
}
