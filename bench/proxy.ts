/**
 * bench:proxy — hangar's proxy against the upstream itself and against nginx, haproxy and caddy, all in
 * front of the same upstream in the same run: the echo fixture app running as a real hangar machine
 * under a real daemon (temp HANGAR_HOME, loopback only). For each target, a 2 s wrk warm-up and then
 * `wrk -t2 -c50 -d10s --latency`; the same again over HTTPS, with hangar and each peer terminating TLS
 * with one self-signed certificate for bench.test (hangar-tls, nginx-tls, haproxy-tls, caddy-tls); then
 * a fixed 1,000 req/s run against the upstream, hangar, the peers and the references (hangar with one
 * worker, a bare node:http + undici forwarder, a bare byte pipe; 1 s slices, taken in turn) to see the
 * latency hangar adds, and what a peer or a bare Node process adds on the same machine. Prints a
 * table, the goals as met/missed, then one JSON line. Progress goes to stderr, results to stdout.
 *
 * Env: BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (50), BENCH_THREADS (2), BENCH_WARMUP (s, 2),
 * BENCH_RATE (req/s, 1000), BENCH_RATE_DURATION (1 s slices per target, 10), BENCH_QUIET_WAIT (s, 15:
 * how long each run may wait for other processes on the host to go quiet; 0 = never wait),
 * BENCH_PROXY_WORKERS (hangar's proxy worker processes, default one per core; 0 = in the daemon),
 * BENCH_RATE_PEERS=0 (the fixed-rate run without the peers), BENCH_RATE_REFS=0 (without the
 * references: hangar with one worker, and the bare Node forwarders of proxy-refs.ts),
 * BENCH_NO_INSTALL=1 (never apt-get install), BENCH_TARGETS (comma-separated target names, and
 * `rate` for the fixed-rate run, to measure only those while working on one figure; the others are
 * reported as not selected and their goals as missed).
 */
import { availableParallelism, cpus } from 'node:os';
import { APP_HOST, enableTls, startHangar, type HangarSetup } from './proxy-hangar.js';
import { PEER_NAMES, RATE_REF_NAMES, TARGET_NAMES, TLS_TARGET_NAMES, type PeerName, type RateRefName, type Target, type TargetName } from './proxy-http.js';
import { CpuSampler, waitForQuiet, type CpuShare } from './proxy-cpu.js';
import { rateSlice, Recording, summarise } from './proxy-load.js';
import { PEER_NOTES, startPeer } from './proxy-peers.js';
import { Reaper } from './proxy-procs.js';
import { startForwarder } from './proxy-refs.js';
import { figuresJson, goals, NOISY_OTHER_CPU, rateLines, tableLines, type Figures, type RateCpu, type RateMeasured, type Row } from './proxy-report.js';
import { makeCert, TLS_NOTES, type BenchCert } from './proxy-tls.js';
import { ensureTools, type Tool, type ToolStatus } from './proxy-tools.js';
import { runWrk, runWrkWithCpu, type WrkOptions } from './proxy-wrk.js';

interface Settings {
  durationS: number;
  connections: number;
  threads: number;
  warmupS: number;
  rate: number;
  rateDurationS: number;
  quietWaitS: number;
  workers: number;
  /** Only these targets (and `rate`), when BENCH_TARGETS names some. */
  only?: Set<string>;
  /** Whether the fixed-rate run also measures the peers (BENCH_RATE_PEERS=0: direct and hangar only). */
  ratePeers: boolean;
  /** Whether the fixed-rate run also measures the references (BENCH_RATE_REFS=0: without them). */
  rateRefs: boolean;
}

/** Reads the BENCH_* variables once; a bad value stops the run naming the variable. */
function settings(env = process.env): Settings {
  const int = (name: string, dflt: number, min: number) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return dflt;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    return v;
  };
  return {
    durationS: int('BENCH_DURATION', 10, 1),
    connections: int('BENCH_CONNECTIONS', 50, 1),
    threads: int('BENCH_THREADS', 2, 1),
    warmupS: int('BENCH_WARMUP', 2, 0),
    rate: int('BENCH_RATE', 1000, 1),
    rateDurationS: int('BENCH_RATE_DURATION', 10, 1),
    quietWaitS: int('BENCH_QUIET_WAIT', 15, 0),
    workers: int('BENCH_PROXY_WORKERS', availableParallelism(), 0),
    only: env.BENCH_TARGETS ? new Set(env.BENCH_TARGETS.split(',').map((x) => x.trim()).filter(Boolean)) : undefined,
    ratePeers: env.BENCH_RATE_PEERS !== '0',
    rateRefs: env.BENCH_RATE_REFS !== '0',
  };
}

const say = (line: string) => console.error(`bench:proxy: ${line}`);

async function main(reaper: Reaper, s: Settings, hangarRef: { h?: HangarSetup }): Promise<void> {
  const tools = ensureTools(say);
  for (const [t, st] of Object.entries(tools)) say(st.ok ? `${t}: ${st.version}${st.installed ? ' (installed now)' : ''}` : `${t}: skipped — ${st.reason}`);
  say('starting the hangar daemon and the echo machine');
  const h = (hangarRef.h = await startHangar(reaper, s.workers));
  say(`machine ${h.machineId} at ${h.address}; hangar proxy at ${h.proxyUrl} (TLS on port ${h.proxyTlsPort}), ${h.workers} proxy workers`);
  const direct: Target = { name: 'direct', url: `http://${h.address}/` };
  const hangar: Target = { name: 'hangar', url: `${h.proxyUrl}/`, host: APP_HOST, proxyPgid: h.daemon.pid };
  const tls = await setUpTls(reaper, h);
  const ctx: Ctx = { only: s.only, tools, h, direct, hangar, tls };
  const rows = await measureAll(reaper, s, ctx);
  const rate = !s.only || s.only.has('rate') ? await measureRate(reaper, s, ctx) : { reason: 'not selected (BENCH_TARGETS)' };
  const figures: Figures = { rows, rate };
  print(figures, s, tools, h);
}

/** Gives someone else's CPU burst up to BENCH_QUIET_WAIT seconds to pass before a run starts. */
async function quiet(s: Settings): Promise<void> {
  if (s.quietWaitS === 0) return;
  const q = await waitForQuiet(NOISY_OTHER_CPU, s.quietWaitS * 1000);
  if (q.otherPct >= NOISY_OTHER_CPU) say(`host still busy after ${q.waitedMs} ms (other processes at ${q.otherPct}% of a core); measuring anyway`);
  else if (q.waitedMs > 1000) say(`waited ${q.waitedMs} ms for other processes to quieten`);
}

/** The HTTPS setup: the certificate, and hangar serving it; or why the HTTPS runs are skipped. */
type TlsSetup = { ok: true; cert: BenchCert; hangar: Target } | { ok: false; reason: string };

async function setUpTls(reaper: Reaper, h: HangarSetup): Promise<TlsSetup> {
  try {
    const cert = makeCert(reaper);
    say('importing the bench.test certificate into hangar');
    return { ok: true, cert, hangar: await enableTls(h, cert) };
  } catch (err) {
    const reason = `TLS setup failed: ${(err as Error).message}`.replace(/\s+/g, ' ');
    say(reason);
    return { ok: false, reason };
  }
}

interface Ctx {
  only?: Set<string>;
  tools: Record<Tool, ToolStatus>;
  h: HangarSetup;
  direct: Target;
  hangar: Target;
  tls: TlsSetup;
}

/**
 * wrk against direct and hangar, then each peer started just for its own run and stopped after; then
 * the same over HTTPS.
 */
async function measureAll(reaper: Reaper, s: Settings, c: Ctx): Promise<Record<TargetName, Row>> {
  const wrk = c.tools.wrk;
  const rows = {} as Record<TargetName, Row>;
  if (!wrk.ok) {
    for (const n of TARGET_NAMES) rows[n] = { ok: false, reason: `wrk unavailable: ${wrk.reason}` };
    return rows;
  }
  const o: WrkOptions = { bin: wrk.path, threads: s.threads, connections: s.connections, durationS: s.durationS, dir: reaper.tempDir('hangar-bench-wrk-') };
  const measure = async (t: Target): Promise<Row> => {
    if (s.only && !s.only.has(t.name)) return { ok: false, reason: 'not selected (BENCH_TARGETS)' };
    await quiet(s);
    say(`wrk → ${t.name}: ${s.warmupS} s warm-up, then ${s.durationS} s`);
    try {
      if (s.warmupS > 0) await runWrk(reaper, t, { ...o, durationS: s.warmupS }, 'warmup');
      const m = await runWrkWithCpu(reaper, t, o, c.h.machinePgid);
      say(`  ${t.name}: ${m.rps} req/s, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms, errors ${m.errors}, cpu% ${JSON.stringify(m.cpu)}`);
      return { ok: true, m };
    } catch (err) {
      // One target's failed run is reported in its row; the others are still worth measuring.
      const reason = `wrk run failed: ${(err as Error).message}`.replace(/\s+/g, ' ');
      say(`  ${t.name}: ${reason}`);
      return { ok: false, reason };
    }
  };
  rows.direct = await measure(c.direct);
  rows.hangar = await measure(c.hangar);
  for (const name of PEER_NAMES) rows[name] = await measurePeer(reaper, name, c, measure);
  const tls = c.tls;
  if (!tls.ok) {
    for (const n of TLS_TARGET_NAMES) rows[n] = { ok: false, reason: tls.reason };
    return rows;
  }
  rows['hangar-tls'] = await measure(tls.hangar);
  for (const name of PEER_NAMES) rows[`${name}-tls`] = await measurePeer(reaper, name, c, measure, tls.cert);
  return rows;
}

/** Starts the peer (terminating TLS with `cert` when given), measures it, stops it. */
async function measurePeer(reaper: Reaper, name: PeerName, c: Ctx, measure: (t: Target) => Promise<Row>, cert?: BenchCert): Promise<Row> {
  const tool = c.tools[name];
  if (!tool.ok) return { ok: false, reason: tool.reason };
  if (c.only && !c.only.has(cert ? `${name}-tls` : name)) return { ok: false, reason: 'not selected (BENCH_TARGETS)' };
  const started = await startPeer(reaper, { name, bin: tool.path, upstream: c.h.address, machineId: c.h.machineId, cert });
  if (!started.ok) {
    say(`${cert ? `${name}-tls` : name} skipped: ${started.reason}`);
    return { ok: false, reason: started.reason };
  }
  try {
    return await measure(started.target);
  } finally {
    await reaper.stop(started.child);
  }
}

/**
 * The fixed-rate run: a warm-up per target, then direct, hangar and each peer that runs here (plain
 * HTTP) in 1 s slices taken in turn, so every target shares whatever else the host is doing (CPU is
 * sampled per slice); the peers tell what one more hop costs on this machine whoever makes it.
 */
async function measureRate(reaper: Reaper, s: Settings, c: Ctx): Promise<Figures['rate']> {
  const peers: Partial<Record<PeerName, RateMeasured | { reason: string }>> = {};
  const refs: Partial<Record<RateRefName, RateMeasured | { reason: string }>> = {};
  const targets: Target[] = [c.direct, c.hangar];
  /** The upstream whose CPU counts for each target: its own machine for hangar-1w. */
  const upstreams: number[] = [c.h.machinePgid, c.h.machinePgid];
  const stops: Array<() => Promise<void>> = [];
  const add = (t: Target, stop: () => Promise<void>, upstream = c.h.machinePgid) => {
    targets.push(t);
    upstreams.push(upstream);
    stops.push(stop);
  };
  for (const name of s.ratePeers ? PEER_NAMES : []) {
    const tool = c.tools[name];
    if (!tool.ok) {
      peers[name] = { reason: tool.reason };
      continue;
    }
    const started = await startPeer(reaper, { name, bin: tool.path, upstream: c.h.address, machineId: c.h.machineId });
    if (started.ok) add(started.target, () => reaper.stop(started.child));
    else peers[name] = { reason: started.reason };
  }
  if (s.rateRefs && s.workers !== 1) {
    const one = await startHangar(reaper, 1).catch((err: Error) => err);
    if (one instanceof Error) refs['hangar-1w'] = { reason: one.message };
    else add({ name: 'hangar-1w', url: `${one.proxyUrl}/`, host: APP_HOST, proxyPgid: one.daemon.pid }, () => one.stop(), one.machinePgid);
  }
  for (const kind of s.rateRefs ? (['node-http', 'node-pipe'] as const) : []) {
    const started = await startForwarder(reaper, { kind, upstream: c.h.address, machineId: c.h.machineId });
    if (started.ok) add(started.target, () => reaper.stop(started.child));
    else refs[kind] = { reason: started.reason };
  }
  const recs = targets.map((t) => new Recording(t, s.rate));
  const cpu = targets.map(() => [] as CpuShare[]);
  try {
    say(`fixed rate: ${s.rate} req/s, ${s.warmupS} s warm-up each, then ${s.rateDurationS} × 1 s slices each, in turn: ${targets.map((t) => t.name).join(', ')}`);
    await quiet(s);
    for (const r of recs) if (s.warmupS > 0) await rateSlice(new Recording(r.target, s.rate, r.agent), s.warmupS * 1000);
    for (let i = 0; i < s.rateDurationS; i++) {
      for (const [k, r] of recs.entries()) {
        const sampler = new CpuSampler({ upstream: upstreams[k]!, ...(r.target.proxyPgid !== undefined ? { proxy: r.target.proxyPgid } : {}) });
        sampler.start();
        await rateSlice(r, 1000);
        cpu[k]!.push(sampler.stop());
      }
    }
  } finally {
    for (const r of recs) r.agent.destroy();
    for (const stop of stops) await stop();
  }
  const measured = recs.map((r, k) => ({ ...summarise(r), cpu: meanCpu(cpu[k]!) }));
  for (const [k, r] of measured.entries()) {
    const name = targets[k]!.name;
    say(`  ${name}: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, errors ${r.errors}`);
    if ((PEER_NAMES as readonly string[]).includes(name)) peers[name as PeerName] = r;
    else if ((RATE_REF_NAMES as readonly string[]).includes(name)) refs[name as RateRefName] = r;
  }
  return { direct: measured[0]!, hangar: measured[1]!, peers, refs };
}

function meanCpu(xs: CpuShare[]): RateCpu {
  const mean = (f: (x: CpuShare) => number) => Math.round(xs.reduce((a, x) => a + f(x), 0) / Math.max(1, xs.length));
  return { proxy: mean((x) => x.groups.proxy ?? 0), upstream: mean((x) => x.groups.upstream ?? 0), generator: mean((x) => x.self), other: mean((x) => x.other) };
}

function print(f: Figures, s: Settings, tools: Record<Tool, ToolStatus>, h: HangarSetup): void {
  const cpu = cpus();
  const wrk = `wrk -t${s.threads} -c${s.connections} -d${s.durationS}s --latency after a ${s.warmupS} s warm-up`;
  console.log(`hangar bench:proxy — ${wrk}; all on 127.0.0.1, ${cpu.length} CPUs (${cpu[0]?.model ?? '?'}) shared by wrk, proxy and upstream`);
  console.log(`upstream: echo fixture as hangar machine ${h.machineId} at ${h.address} (GET / → short text)`);
  console.log(`hangar: proxy in ${h.workers === 0 ? "the daemon's own process (0 workers)" : `${h.workers} worker process${h.workers === 1 ? '' : 'es'}`}`);
  console.log('cpu% = % of one core during the run; other = every other process on the host; × direct = req/s over the upstream reached directly (plain HTTP), for the HTTPS rows too');
  console.log(`peers: ${PEER_NOTES}`);
  console.log(`https: ${TLS_NOTES}`);
  for (const l of tableLines(f)) console.log(l);
  for (const l of rateLines(f)) console.log(l);
  for (const g of goals(f)) console.log(`${g.verdict.padEnd(6)} ${g.name}: ${g.detail}`);
  const versions = Object.fromEntries(Object.entries(tools).map(([t, st]) => [t, st.ok ? st.version : null]));
  const setup = { settings: s, proxy_workers: h.workers, cpus: cpu.length, cpu_model: cpu[0]?.model ?? null, node: process.version, versions, peers: PEER_NOTES, https: TLS_NOTES, machine: h.machineId };
  console.log(figuresJson(f, setup));
}

const reaper = new Reaper();
reaper.installExitHandlers();
const hangarRef: { h?: HangarSetup } = {};
let s: Settings | undefined;
try {
  s = settings();
} catch (err) {
  console.error(`bench:proxy: ${(err as Error).message}`);
  process.exitCode = 2;
}
if (s) {
  try {
    await main(reaper, s, hangarRef);
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    await hangarRef.h?.stop().catch((err) => console.error(`bench:proxy: stopping hangar: ${(err as Error).message}`));
    reaper.sweep();
  }
}
