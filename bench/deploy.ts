/**
 * bench:deploy — how a deploy behaves under steady traffic. Starts a real daemon (temp HANGAR_HOME,
 * loopback, ephemeral ports), deploys the echo app and scales it to 10 machines, then runs deploys
 * through the CLI while an open-loop generator sends BENCH_RPS (default 300) requests/s through
 * hangar's proxy: a rolling deploy, an immediate one and `releases rollback`, BENCH_ROUNDS times (default
 * 3). For each: requests that failed (target 0), the deploy command's wall time, and that time over the
 * least possible — the bare app's boot + first passing /health, measured in the same run, once per
 * rolling batch (target ≤ 1.2). Then, once each: a bluegreen deploy of a good version (failed requests,
 * target 0; wall time) and a canary of a bad one (FAIL_RATE=0.3, steps [5, 25, 50]): failures users saw
 * (target ≤ 5% × 30% × the requests of the canary phase + a margin), whether it aborted at step 1, and
 * breach → 100 % stable as the load generator saw it (the abort decision's event time → the end of the
 * last response a canary machine served; target < 1 s). Prints a table, where the time went (from the
 * deploy's own events) and, last, one JSON line.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/deploy.js
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchEnv, ECHO_SERVER, until } from './deploy-env.js';
import { OpenLoopLoad } from './deploy-load.js';
import { printReport, SLOW_MS, type Bench, type Round, type ScenarioName } from './deploy-print.js';
import { breakdown, canaryFigures, failureRuns, latencyTimeline, loadStats, machinePhases, parseEvents, type MachineEvent } from './deploy-report.js';

const APP = 'bench-deploy';
const RPS = positiveInt('BENCH_RPS', 300);
const ROUNDS = positiveInt('BENCH_ROUNDS', 3);
const MACHINES = 10;
const MAX_UNAVAILABLE = 0.33;
const BOOT_RUNS = 7;
/** Load before and after each deploy: a baseline, and room for anything the deploy leaves behind. */
const SETTLE_MS = 1500;
const DEPLOY_TIMEOUT_MS = 120_000;
/** The bad canary: the echo app answers 500 for this share of requests; judged over these steps. */
const CANARY_FAIL_RATE = 0.3;
const CANARY_STEPS = [5, 25, 50];
const CANARY_TOML = `
[deploy.canary]
count = 1
steps = [${CANARY_STEPS.join(', ')}]
step_interval = "10s"
max_error_rate = 0.05
min_requests = 20
`;

const TOML = `app = "${APP}"
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
`;

interface MachineView {
  id: string;
  instance_id: string;
  state: string;
  release_version: number | null;
  checks: Array<{ status: string }>;
  events: MachineEvent[];
}

/** Batches the rolling strategy makes of one process group: the first machine alone, then max(1, floor(f × n)) at a time. */
function rollingBatches(n: number, maxUnavailable: number): number {
  const size = maxUnavailable >= 1 ? Math.floor(maxUnavailable) : Math.max(1, Math.floor(maxUnavailable * n));
  return n === 0 ? 0 : 1 + Math.ceil((n - 1) / size);
}

async function main(env: BenchEnv): Promise<void> {
  const loadBefore = loadavg()[0]!;
  await env.start();
  const dir = mkdtempSync(join(tmpdir(), 'hangar-bench-app-'));
  env.tempDirs.push(dir);
  writeFileSync(join(dir, 'server.js'), readFileSync(ECHO_SERVER));
  writeFileSync(join(dir, 'hangar.toml'), TOML);

  const bootIdle = await env.bootTimes(dir, BOOT_RUNS);
  env.apps.add(APP);
  await mustSucceed(env, ['deploy', dir], 'first deploy');
  await mustSucceed(env, ['scale', 'count', String(MACHINES), '-a', APP], 'scale');
  await allHealthy(env);

  // The same boot while the proxy carries the load, and the CLI's own floor (start, one API call, exit).
  const load = new OpenLoopLoad({ proxy: env.proxyUrl, host: `${APP}.localhost`, rps: RPS, maxMs: 60_000 });
  load.start();
  const bootLoaded = await env.bootTimes(dir, BOOT_RUNS).finally(() => load.stop());
  const cliFloor: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await mustSucceed(env, ['releases', '-a', APP, '--json'], 'releases');
    cliFloor.push(r.endedAt - r.startedAt);
  }

  const batches = rollingBatches(MACHINES, MAX_UNAVAILABLE);
  const rounds: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Release v1 is the first deploy; each round makes three more, and MESSAGE names the release.
    const plan: Array<[ScenarioName, string[]]> = [
      ['rolling', ['deploy', dir, '-e', `MESSAGE=v${2 + 3 * i}`, '--json']],
      ['immediate', ['deploy', dir, '-e', `MESSAGE=v${3 + 3 * i}`, '--strategy', 'immediate', '--json']],
      ['rollback', ['releases', 'rollback', '-a', APP, '--json']],
    ];
    for (const [name, args] of plan) rounds.push(await runScenario(env, name, args, i + 1));
  }
  // Once each, after the rounds: bluegreen with a good version, then a canary with a bad one
  // (FAIL_RATE answers 500 for that share of requests) that should be aborted at its first step.
  rounds.push(await runScenario(env, 'bluegreen', ['deploy', dir, '-e', 'MESSAGE=bluegreen', '--strategy', 'bluegreen', '--json'], 1));
  writeFileSync(join(dir, 'hangar.toml'), TOML + CANARY_TOML);
  rounds.push(await runScenario(env, 'canary', ['deploy', dir, '-e', 'MESSAGE=canary', '-e', `FAIL_RATE=${CANARY_FAIL_RATE}`, '--strategy', 'canary', '--json'], 1));
  // The host's 1-minute load average, before and after: timings on a busy host are upper bounds.
  const host = { cpus: availableParallelism(), loadBefore, loadAfter: loadavg()[0]! };
  const bench: Bench = { machines: MACHINES, rps: RPS, maxUnavailable: MAX_UNAVAILABLE, batches, bootIdle, bootLoaded, cliFloor, rounds, host };
  printReport(bench);
}

async function runScenario(env: BenchEnv, name: ScenarioName, args: string[], round: number): Promise<Round> {
  await allHealthy(env);
  const load = new OpenLoopLoad({ proxy: env.proxyUrl, host: `${APP}.localhost`, rps: RPS, maxMs: 2 * SETTLE_MS + DEPLOY_TIMEOUT_MS + 5000 });
  load.start();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const t0 = performance.now();
  const r = await env.cli(args, DEPLOY_TIMEOUT_MS);
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const samples = await load.stop();
  const epochOffset = Date.now() - performance.now();
  const events = parseEvents(r.stdout);
  const done = events.find((e) => e.event.type === 'done');
  const machines = await env.api<MachineView[]>('GET', `/v1/apps/${APP}/machines`);
  return {
    name,
    round,
    exit: r.status,
    error: r.status === 0 ? undefined : (r.stderr.trim() || r.stdout.trim()).split('\n').slice(0, 6).join(' ⏎ ').slice(0, 600),
    release: done ? `v${(done.event as { release?: number }).release} ${done.event.status}` : 'no done event',
    wallMs: t1 - t0,
    daemonMs: done && events[0] ? Date.parse(done.at) - Date.parse(events[0].at) : NaN,
    batchesSeen: events.filter((e) => e.event.type === 'phase' && /batch \d+\/\d+/.test(e.event.message ?? '')).length,
    during: loadStats(samples, t0, t1),
    duringMs: samples.filter((s) => s.due >= t0 && s.due < t1).map((s) => s.ms),
    before: loadStats(samples, -Infinity, t0),
    window: loadStats(samples),
    segments: breakdown(events, r.startedAt, r.endedAt),
    phases: machinePhases(events, machines.map((m) => ({ id: m.id, events: m.events, spawnedAt: env.spawnedAt(m.id, m.instance_id) }))),
    timeline: latencyTimeline(samples, t0, t1),
    slow: countBy(samples.filter((x) => x.due >= t0 && x.due < t1 && x.ms > SLOW_MS).map((x) => (x.status === 200 ? x.detail : String(x.status)))),
    failures: failureRuns(samples, t0),
    onRelease: [...new Set(machines.map((m) => `v${m.release_version}`))].join(','),
    canary: name === 'canary' ? canaryFigures(events, samples, epochOffset, CANARY_STEPS[0]!, CANARY_FAIL_RATE) : undefined,
  };
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

async function mustSucceed(env: BenchEnv, args: string[], what: string) {
  const r = await env.cli(args);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return r;
}

/** Every machine of the app started and passing its checks (30 s deadline). */
async function allHealthy(env: BenchEnv): Promise<void> {
  await until(30_000, `${MACHINES} healthy machines`, async () => {
    const ms = await env.api<MachineView[]>('GET', `/v1/apps/${APP}/machines`);
    const ok = ms.length === MACHINES && ms.every((m) => m.state === 'started' && m.checks.length > 0 && m.checks.every((c) => c.status === 'passing'));
    return ok ? true : undefined;
  });
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a whole number > 0, got ${JSON.stringify(raw)}`);
  return n;
}

const env = new BenchEnv();
const onSignal = (sig: NodeJS.Signals) => {
  console.error(`${sig}: cleaning up`);
  void env.dispose().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
main(env)
  .catch((err) => {
    console.error(env.stopping ? `stopped: ${(err as Error).message}` : err);
    process.exitCode = 1;
  })
  .finally(() => env.dispose());
