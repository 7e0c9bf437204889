/**
 * Turns bench:proxy's measurements into the printed table, the goal lines (hangar over HTTP ≥ 1.5×
 * caddy and ≥ 0.4× nginx req/s, over HTTPS ≥ 1.5× caddy's HTTPS req/s, ≤ 1 ms p99 added latency at
 * 1,000 req/s, zero errors over HTTP and HTTPS; all against peers measured in the same run) and the
 * final JSON line. Pure: takes figures, returns lines.
 */
import { PEER_NAMES, RATE_REF_NAMES, TARGET_NAMES, type PeerName, type RateRefName, type TargetName } from './proxy-http.js';
import type { CpuShare } from './proxy-cpu.js';
import type { RateResult } from './proxy-load.js';
import type { WrkResult } from './proxy-wrk.js';
import { round } from './proxy-wrk.js';

export type Measured = WrkResult & { cpu: CpuShare };
export type Row = { ok: true; m: Measured } | { ok: false; reason: string };

/** Mean CPU (% of one core) over a target's fixed-rate slices. */
export interface RateCpu {
  /** The proxy measured (hangar's daemon and workers, or the peer); 0 for direct. */
  proxy: number;
  upstream: number;
  generator: number;
  other: number;
}
export type RateMeasured = RateResult & { cpu: RateCpu };

export interface Figures {
  rows: Record<TargetName, Row>;
  rate:
    | {
        direct: RateMeasured;
        hangar: RateMeasured;
        peers: Partial<Record<PeerName, RateMeasured | { reason: string }>>;
        /** hangar with one worker and the bare Node forwarders, measured in the same slices. */
        refs: Partial<Record<RateRefName, RateMeasured | { reason: string }>>;
      }
    | { reason: string };
}

export type Verdict = 'met' | 'missed' | 'n/a';
export interface Goal {
  name: string;
  verdict: Verdict;
  detail: string;
}

/** Above this much CPU (% of one core) used by unrelated processes, a run's figures are marked noisy. */
export const NOISY_OTHER_CPU = 25;

const fmt = (x: number | null | undefined, d = 2) => (x === null || x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));

/** The main table: one line per target, skipped ones with their reason. */
export function tableLines(f: Figures): string[] {
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× direct', 'proxy cpu%', 'upstream cpu%', 'wrk cpu%', 'other cpu%'];
  const w = [11, 9, 8, 8, 7, 9, 11, 14, 9, 11];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' ');
  const out = [line(head)];
  const direct = f.rows.direct.ok ? f.rows.direct.m.rps : undefined;
  let noisy = false;
  for (const name of TARGET_NAMES) {
    const r = f.rows[name];
    if (!r.ok) {
      out.push(`${name.padEnd(w[0]!)} skipped: ${r.reason}`);
      continue;
    }
    const mark = r.m.cpu.other > NOISY_OTHER_CPU ? ' *' : '';
    noisy ||= mark !== '';
    const ratio = direct ? r.m.rps / direct : undefined;
    const cpu = r.m.cpu.groups;
    const pc = (x: number | undefined) => (x === undefined ? '-' : String(x));
    out.push(line([name, fmt(r.m.rps, 0), fmt(r.m.p50_ms), fmt(r.m.p99_ms), String(r.m.errors), fmt(ratio), pc(cpu.proxy), pc(cpu.upstream), pc(cpu.wrk), pc(r.m.cpu.other)]) + mark);
  }
  if (noisy) out.push(`* other processes on this host used more than ${NOISY_OTHER_CPU}% of a core during that run: its figures are depressed by CPU contention`);
  return out;
}

/** The fixed-rate lines: p50/p99 for direct, hangar, the peers and the references, and what each adds. */
export function rateLines(f: Figures): string[] {
  if ('reason' in f.rate) return [`fixed rate: skipped: ${f.rate.reason}`];
  const { direct, hangar } = f.rate;
  const width = 9;
  const one = (n: string, r: RateMeasured) => {
    const samples = r.error_samples.length ? ` (${r.error_samples.join('; ')})` : '';
    const lat = `p50 ${fmt(r.p50_ms, 3)} ms, p90 ${fmt(r.p90_ms, 3)} ms, p99 ${fmt(r.p99_ms, 3)} ms, max ${fmt(r.max_ms, 3)} ms`;
    const perRequest = n === 'direct' ? '' : ` (${Math.round((r.cpu.proxy * 10_000) / r.rate)} µs of CPU per request)`;
    const cpu = `cpu% proxy ${r.cpu.proxy}${perRequest}, upstream ${r.cpu.upstream}, generator ${r.cpu.generator}, other ${r.cpu.other}`;
    const mark = r.cpu.other > NOISY_OTHER_CPU ? ' *' : '';
    return `  ${n.padEnd(width)} sent ${r.sent}, ok ${r.ok}, errors ${r.errors}${samples}, ${lat}; generator send lag p99 ${fmt(r.send_lag_p99_ms, 3)} ms; ${cpu}${mark}`;
  };
  const others = othersOf(f.rate);
  const adds = (n: string, r: RateMeasured) => `  ${n} adds: p50 ${fmt(r.p50_ms - direct.p50_ms, 3)} ms, p99 ${fmt(r.p99_ms - direct.p99_ms, 3)} ms`;
  return [
    `fixed rate ${direct.rate} req/s (Node keep-alive client, 1 s slices taken in turn, latency from send to end of body):`,
    one('direct', direct),
    one('hangar', hangar),
    ...others.map((p) => (p.r ? one(p.n, p.r) : `  ${p.n.padEnd(width)} skipped: ${p.skipped}`)),
    adds('hangar', hangar),
    ...others.flatMap((p) => (p.r ? [adds(p.n, p.r)] : [])),
    ...(others.some((p) => (RATE_REF_NAMES as readonly string[]).includes(p.n))
      ? ['  references (those measured): hangar-1w = hangar with one proxy worker (its own echo machine); node-http = a node:http server handing requests to an undici Pool; node-pipe = bytes copied between connections, no HTTP parsing']
      : []),
    ...(Math.max(direct.cpu.other, hangar.cpu.other, ...others.map((p) => p.r?.cpu.other ?? 0)) > NOISY_OTHER_CPU
      ? [`  * other processes used more than ${NOISY_OTHER_CPU}% of a core (mean per slice): tail latencies include their CPU contention`]
      : []),
  ];
}

type RateRun = Exclude<Figures['rate'], { reason: string }>;

/** The peers or references of a fixed-rate run, in order: measured (`r`), or why not (`skipped`). */
type OtherRate<N extends string> = { n: N; r?: RateMeasured; skipped?: string };
function measuredOf<N extends string>(names: readonly N[], got: Partial<Record<N, RateMeasured | { reason: string }>>): Array<OtherRate<N>> {
  return names.flatMap((n): Array<OtherRate<N>> => {
    const r = got[n];
    return r === undefined ? [] : 'reason' in r ? [{ n, skipped: r.reason }] : [{ n, r }];
  });
}
const peersOf = (rate: RateRun) => measuredOf(PEER_NAMES, rate.peers);
const othersOf = (rate: RateRun): Array<OtherRate<string>> => [...peersOf(rate), ...measuredOf(RATE_REF_NAMES, rate.refs)];

/** The p99 each measured peer (or reference) added over direct in the run. */
function addedP99<N extends string>(rate: RateRun, of: Array<OtherRate<N>>): Array<[N, number]> {
  return of.flatMap((p): Array<[N, number]> => (p.r ? [[p.n, p.r.p99_ms - rate.direct.p99_ms]] : []));
}

/** What the peers and references add at p99 in the same slices, as context for hangar's figure. */
function othersAdd(rate: RateRun): string {
  const parts = addedP99(rate, othersOf(rate)).map(([n, ms]) => `${n} ${fmt(ms, 3)}`);
  return parts.length ? ` (in the same slices: ${parts.join(', ')} ms)` : '';
}

/** A warning suffix when unrelated processes were busy during either run being compared. */
function noisy(...others: number[]): string {
  const worst = Math.max(...others);
  return worst > NOISY_OTHER_CPU ? ` (noisy: other processes used up to ${worst}% of a core)` : '';
}

/** hangar's req/s (over HTTP or HTTPS) against a peer's over the same protocol, as a ratio goal. */
function vsPeer(f: Figures, ours: 'hangar' | 'hangar-tls', peer: TargetName, need: number): Goal {
  const h = f.rows[ours];
  const p = f.rows[peer];
  const over = ours === 'hangar-tls' ? 'HTTPS' : 'HTTP';
  const name = `hangar ${over} req/s ≥ ${need.toFixed(1)}× ${peer}`;
  if (!h.ok) return { name, verdict: 'n/a', detail: `${ours} skipped: ${h.reason}` };
  if (!p.ok) return { name, verdict: 'n/a', detail: `${peer} skipped: ${p.reason}` };
  const ratio = h.m.rps / p.m.rps;
  return { name, verdict: ratio >= need ? 'met' : 'missed', detail: `${h.m.rps} vs ${p.m.rps} req/s = ${ratio.toFixed(2)}×${noisy(h.m.cpu.other, p.m.cpu.other)}` };
}

/** No errors in hangar's wrk run over `over`, nor (for HTTP) in its fixed-rate run. */
function errorsGoal(f: Figures, over: 'HTTP' | 'HTTPS'): Goal {
  const row = f.rows[over === 'HTTPS' ? 'hangar-tls' : 'hangar'];
  const m = row.ok ? row.m : undefined;
  const rateErrors = over === 'HTTP' && !('reason' in f.rate) ? f.rate.hangar.errors : undefined;
  const counts = [m?.errors, rateErrors].filter((x) => x !== undefined);
  const wrk = `wrk run ${m ? `${m.errors} (non-2xx ${m.non2xx}, socket ${JSON.stringify(m.socket_errors)})` : 'not run'}`;
  return {
    name: `hangar: zero errors over ${over}`,
    verdict: counts.length === 0 ? 'n/a' : counts.every((x) => x === 0) ? 'met' : 'missed',
    detail: over === 'HTTP' ? `${wrk}, fixed-rate run ${rateErrors ?? 'not run'}` : wrk,
  };
}

/** The targets, each met / missed / n/a with its numbers. */
export function goals(f: Figures): Goal[] {
  const rate = 'reason' in f.rate ? undefined : f.rate;
  const added = rate ? rate.hangar.p99_ms - rate.direct.p99_ms : undefined;
  const latencyGoal: Goal = {
    name: 'hangar p99 added latency at 1,000 req/s ≤ 1 ms',
    verdict: added === undefined || Number.isNaN(added) ? 'n/a' : added <= 1 ? 'met' : 'missed',
    detail: rate
      ? `${fmt(rate.hangar.p99_ms, 3)} − ${fmt(rate.direct.p99_ms, 3)} = ${fmt(added, 3)} ms` +
        `${rate.direct.rate !== 1000 ? ` (measured at ${rate.direct.rate} req/s)` : ''}${othersAdd(rate)}${noisy(rate.hangar.cpu.other, rate.direct.cpu.other)}`
      : 'not run',
  };
  return [vsPeer(f, 'hangar', 'caddy', 1.5), vsPeer(f, 'hangar', 'nginx', 0.4), vsPeer(f, 'hangar-tls', 'caddy-tls', 1.5), latencyGoal, errorsGoal(f, 'HTTP'), errorsGoal(f, 'HTTPS')];
}

/** The last line: every figure, skipped targets as null with a `<name>_skipped_reason` next to them. */
export function figuresJson(f: Figures, setup: Record<string, unknown>): string {
  const direct = f.rows.direct.ok ? f.rows.direct.m.rps : undefined;
  const targets: Record<string, unknown> = {};
  for (const name of TARGET_NAMES) {
    const r = f.rows[name];
    if (r.ok) targets[name] = { ...r.m, ratio_to_direct: direct ? round(r.m.rps / direct, 3) : null };
    else {
      targets[name] = null;
      targets[`${name}_skipped_reason`] = r.reason;
    }
  }
  const fr = f.rate;
  const rate =
    'reason' in fr
      ? { fixed_rate: null, fixed_rate_skipped_reason: fr.reason }
      : {
          fixed_rate: {
            ...fr,
            added_p50_ms: round(fr.hangar.p50_ms - fr.direct.p50_ms, 3),
            added_p99_ms: round(fr.hangar.p99_ms - fr.direct.p99_ms, 3),
            peers_added_p99_ms: Object.fromEntries(addedP99(fr, peersOf(fr)).map(([n, ms]) => [n, round(ms, 3)])),
            refs_added_p99_ms: Object.fromEntries(addedP99(fr, measuredOf(RATE_REF_NAMES, fr.refs)).map(([n, ms]) => [n, round(ms, 3)])),
          },
        };
  const g = Object.fromEntries(goals(f).map((x) => [x.name, { verdict: x.verdict, detail: x.detail }]));
  return JSON.stringify({ bench: 'proxy', ...setup, targets, ...rate, goals: g });
}
