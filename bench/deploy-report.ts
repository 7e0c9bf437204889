/**
 * What bench:deploy makes of one scenario: the load's samples cut to the deploy's window (failures,
 * latency), the deploy's own NDJSON events (`hangar deploy --json`) turned into a time breakdown, and
 * the machines' events (when each new instance took traffic) — so a missed target comes with where the
 * time went, from what hangar itself recorded.
 */
import type { Sample } from './deploy-load.js';

export interface DeployEventLine {
  seq: number;
  at: string;
  event: { type: string; phase?: string; machineId?: string; outcome?: string; message?: string; status?: string };
}

export interface MachineEvent {
  type: string;
  status: string;
  timestamp: number;
  message?: string;
}

export interface LoadStats {
  total: number;
  failed: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** p99 of how late the generator sent requests (if high, latency figures include generator stalls). */
  lag_p99_ms: number;
  /** 200 answers by the MESSAGE they carried (which release served them). */
  served: Record<string, number>;
}

export function pct(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export const round = (x: number, digits = 1) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

/** Requests that were due in [from, to) (performance.now() times). */
export function loadStats(samples: Sample[], from = -Infinity, to = Infinity): LoadStats {
  const w = samples.filter((s) => s.due >= from && s.due < to);
  const ok = w.filter((s) => s.status === 200);
  const served: Record<string, number> = {};
  for (const s of ok) served[s.detail] = (served[s.detail] ?? 0) + 1;
  const ms = w.map((s) => s.ms);
  return { total: w.length, failed: w.length - ok.length, p50_ms: pct(ms, 50), p99_ms: pct(ms, 99), max_ms: pct(ms, 100), lag_p99_ms: pct(w.map((s) => s.lagMs), 99), served };
}

/**
 * Failed requests as runs of the same outcome, in time order, relative to `origin` (the deploy's start):
 * e.g. `+1.23…+1.31 s  14 × 503 no healthy machine…`.
 */
export function failureRuns(samples: Sample[], origin: number): string[] {
  const failed = samples.filter((s) => s.status !== 200).sort((a, b) => a.due - b.due);
  const runs: Array<{ from: number; to: number; n: number; what: string }> = [];
  for (const s of failed) {
    const what = `${s.status === 0 ? 'error' : s.status} ${s.detail}`;
    const last = runs.at(-1);
    const t = (s.due - origin) / 1000;
    if (last && last.what === what && t - last.to < 0.5) {
      last.to = t;
      last.n++;
    } else runs.push({ from: t, to: t, n: 1, what });
  }
  return runs.map((r) => `${fmtT(r.from)}${r.to > r.from ? `…${fmtT(r.to)}` : ''} s  ${r.n} × ${r.what}`);
}

const fmtT = (s: number) => `${s >= 0 ? '+' : ''}${s.toFixed(2)}`;

export function parseEvents(stdout: string): DeployEventLine[] {
  const out: DeployEventLine[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as DeployEventLine;
      if (typeof v.seq === 'number' && v.event) out.push(v);
    } catch {
      // not an event line
    }
  }
  return out;
}

export interface Segment {
  name: string;
  ms: number;
}

/**
 * The deploy command's wall time cut at its own events: before the first event (CLI start, image
 * build and upload, submit), each batch (phase event to the next, or to the batch's last machine
 * outcome), the tail up to `done`, and `done` to the CLI's exit.
 */
export function breakdown(events: DeployEventLine[], cliStart: number, cliEnd: number): Segment[] {
  if (events.length === 0) return [{ name: 'no events (deploy did not start)', ms: cliEnd - cliStart }];
  const at = (e: DeployEventLine) => Date.parse(e.at);
  const segs: Segment[] = [{ name: 'CLI start, build + upload image, submit', ms: at(events[0]!) - cliStart }];
  // The strategy's own steps (batches, "replacing N at once"), not the runner's phase announcement.
  const marks = events.filter((e) => e.event.type === 'phase' && e.event.phase === 'update_machines' && !/ with the \w+ strategy$/.test(e.event.message ?? ''));
  const terminal = events.filter((e) => e.event.type === 'machine' && e.event.outcome !== 'updating');
  const done = events.find((e) => e.event.type === 'done');
  const firstMark = marks[0] ?? terminal[0] ?? done;
  if (firstMark) segs.push({ name: 'submitted → machines start moving', ms: at(firstMark) - at(events[0]!) });
  for (const [i, m] of marks.entries()) {
    const next = marks[i + 1];
    const end = next ? at(next) : Math.max(at(m), ...terminal.map(at));
    segs.push({ name: (m.event.message ?? 'update').replace(/^\w+: /, ''), ms: end - at(m) });
  }
  if (done) {
    segs.push({ name: 'last machine → done (release status, stability check)', ms: at(done) - Math.max(at(firstMark!), ...terminal.map(at)) });
    segs.push({ name: 'done → CLI exit', ms: cliEnd - at(done) });
  }
  return segs;
}

export interface MachinePhases {
  /** `updating` → the new instance's process spawned (rolling: next to the old one; immediate: after the old one stopped). */
  toSpawn: number[];
  /** Spawned → the machine's `started` event (rolling: its checks passed and traffic switched to it; immediate: the spawn itself). */
  spawnToStarted: number[];
  /** `started` → the deploy's outcome for the machine (rolling: the old instance drained and stopped; immediate: checks passing). */
  startedToOutcome: number[];
}

/**
 * Per machine, ms, from the deploy's events, the machine's own events and when the runtime spawned its
 * current instance (`spawnedAt`, wall clock).
 */
export function machinePhases(events: DeployEventLine[], machines: Array<{ id: string; events: MachineEvent[]; spawnedAt?: number }>): MachinePhases {
  const out: MachinePhases = { toSpawn: [], spawnToStarted: [], startedToOutcome: [] };
  for (const m of machines) {
    const updating = events.find((e) => e.event.type === 'machine' && e.event.machineId === m.id && e.event.outcome === 'updating');
    if (!updating) continue;
    const t0 = Date.parse(updating.at);
    const outcome = events.find((x) => x.seq > updating.seq && x.event.type === 'machine' && x.event.machineId === m.id && x.event.outcome !== 'updating');
    const started = m.events
      .filter((e) => e.timestamp >= t0 && e.status === 'started' && (e.type === 'update' || e.type === 'start'))
      .sort((a, b) => a.timestamp - b.timestamp)[0];
    if (m.spawnedAt !== undefined && m.spawnedAt >= t0) {
      out.toSpawn.push(m.spawnedAt - t0);
      if (started) out.spawnToStarted.push(started.timestamp - m.spawnedAt);
    }
    if (started && outcome) out.startedToOutcome.push(Date.parse(outcome.at) - started.timestamp);
  }
  return out;
}

/** p99 latency (and failures) per `bucketMs` from `from` to `to`, e.g. `5 6 120* 300 …` (* = a failure in it). */
export function latencyTimeline(samples: Sample[], from: number, to: number, bucketMs = 250): string {
  const cells: string[] = [];
  for (let t = from; t < to; t += bucketMs) {
    const w = samples.filter((s) => s.due >= t && s.due < t + bucketMs);
    const p = pct(w.map((s) => s.ms), 99);
    cells.push(`${Number.isFinite(p) ? p.toFixed(0) : '-'}${w.some((s) => s.status !== 200) ? '*' : ''}`);
  }
  return cells.join(' ');
}

/** What the bad-canary scenario is judged on; times are wall clock ms (Date.now()), comparable with the events' `at`. */
export interface CanaryFigures {
  canaryIds: string[];
  /** The first decision event's verdict and step (undefined: the deploy made none). */
  verdict?: string;
  step?: number;
  reason?: string;
  abortedAtStep1: boolean;
  /** Step 1 starts (its phase event) → traffic back on stable (the `rolling_back` phase, emitted after the routing change). */
  phaseMs: number;
  /** Requests due during that phase, and how many of them a canary answered. */
  phaseRequests: number;
  phaseToCanary: number;
  /** 5% × FAIL_RATE × phaseRequests: what users should see at most if the first step caught it. */
  expectedFailed: number;
  allowedFailed: number;
  /** Failed requests in the whole load window (everything users saw), and those a canary answered. */
  failed: number;
  failedByCanary: number;
  /** Decision (abort) event → the end of the last response a canary served (the figure); and → the send of the last request a canary answered. */
  breachToStableMs: number;
  breachToLastCanarySendMs: number;
}

/**
 * `epochOffset` turns the load's performance.now() times into Date.now() ones (Date.now() - performance.now()
 * taken once by the caller). `firstWeight` is the first step's percent, `failRate` the bad version's.
 */
export function canaryFigures(events: DeployEventLine[], samples: Sample[], epochOffset: number, firstWeight: number, failRate: number): CanaryFigures {
  const at = (e: DeployEventLine) => Date.parse(e.at);
  const canaryIds = events.filter((e) => e.event.type === 'machine' && e.event.outcome === 'created').map((e) => e.event.machineId!);
  const decision = events.find((e) => e.event.type === 'decision') as (DeployEventLine & { event: { verdict?: string; step?: number; reason?: string } }) | undefined;
  const step1 = events.find((e) => e.event.type === 'phase' && e.event.phase === 'canary' && /^step 1\//.test(e.event.message ?? ''));
  const back = events.find((e) => e.event.type === 'phase' && e.event.phase === 'rolling_back') ?? decision;
  const from = step1 ? at(step1) : NaN;
  const to = back ? at(back) : NaN;
  const inPhase = samples.filter((s) => s.due + epochOffset >= from && s.due + epochOffset < to);
  const phaseRequests = inPhase.length;
  const expectedFailed = (firstWeight / 100) * failRate * phaseRequests;
  const fromCanary = samples.filter((s) => s.machine !== undefined && canaryIds.includes(s.machine));
  const decidedAt = decision ? at(decision) : NaN;
  const lastEnd = Math.max(...fromCanary.map((s) => s.endAt));
  const lastSend = Math.max(...fromCanary.map((s) => s.due + s.lagMs + epochOffset));
  return {
    canaryIds,
    verdict: decision?.event.verdict,
    step: decision?.event.step,
    reason: decision?.event.reason,
    abortedAtStep1: decision?.event.verdict === 'abort' && decision.event.step === 1,
    phaseMs: to - from,
    phaseRequests,
    phaseToCanary: inPhase.filter((s) => s.machine !== undefined && canaryIds.includes(s.machine)).length,
    expectedFailed,
    // Binomial noise on both the canary's share and its failures: three standard deviations, at least 5.
    allowedFailed: expectedFailed + Math.max(5, 3 * Math.sqrt(expectedFailed)),
    failed: samples.filter((s) => s.status !== 200).length,
    failedByCanary: samples.filter((s) => s.status !== 200 && s.machine !== undefined && canaryIds.includes(s.machine)).length,
    breachToStableMs: fromCanary.length ? lastEnd - decidedAt : NaN,
    breachToLastCanarySendMs: fromCanary.length ? lastSend - decidedAt : NaN,
  };
}
