/**
 * Closed-loop throughput with wrk: one run per target, parsed into requests/s, latency percentiles and
 * errors. wrk counts "Non-2xx or 3xx responses"; the echo app never answers 3xx, so that is the
 * non-2xx count here. HTTPS targets get a script that pins wrk's connections to their address, so the
 * URL's host (the SNI name) need not resolve.
 */
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Target } from './proxy-http.js';
import { CpuSampler, type CpuShare } from './proxy-cpu.js';
import { exited, type Reaper } from './proxy-procs.js';
import { wrkResolveScript } from './proxy-tls.js';

export interface WrkOptions {
  bin: string;
  threads: number;
  connections: number;
  durationS: number;
  /** Directory for wrk's output files. */
  dir: string;
}

export interface WrkResult {
  requests: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  non2xx: number;
  socket_errors: { connect: number; read: number; write: number; timeout: number };
  /** non-2xx plus every socket error. */
  errors: number;
}

/** Runs wrk once against `target` and parses it; throws with wrk's output if it cannot. */
export async function runWrk(reaper: Reaper, target: Target, o: WrkOptions, label: string): Promise<WrkResult> {
  return (await wrkOnce(reaper, target, o, label)).result;
}

/** Like `runWrk`, also reporting the CPU (% of one core) of the proxy, the upstream, wrk and the rest. */
export async function runWrkWithCpu(reaper: Reaper, target: Target, o: WrkOptions, upstreamPgid: number): Promise<WrkResult & { cpu: CpuShare }> {
  const groups: Record<string, number> = { upstream: upstreamPgid, ...(target.proxyPgid !== undefined ? { proxy: target.proxyPgid } : {}) };
  const r = await wrkOnce(reaper, target, o, 'run', groups);
  return { ...r.result, cpu: r.cpu! };
}

async function wrkOnce(reaper: Reaper, target: Target, o: WrkOptions, label: string, cpuGroups?: Record<string, number>): Promise<{ result: WrkResult; cpu?: CpuShare }> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.durationS}s`, '--latency', ...(target.host ? ['-H', `Host: ${target.host}`] : [])];
  if (target.tls) args.push('-s', wrkResolveScript(o.dir, target.tls.address));
  args.push(target.url);
  const log = join(o.dir, `wrk-${target.name}-${label}.txt`);
  const child = reaper.spawn({ cmd: o.bin, args, log });
  const sampler = cpuGroups && child.pid !== undefined ? new CpuSampler({ ...cpuGroups, wrk: child.pid }) : undefined;
  sampler?.start();
  // wrk stops itself after -d; the guard only covers a wedged run.
  const guard = setTimeout(() => void reaper.stop(child, 1000), (o.durationS + 15) * 1000);
  try {
    const code = await exited(child);
    // No fresh sample: wrk is gone from /proc now, so the window ends at the last periodic one.
    const cpu = sampler?.stop({ sampleNow: false });
    const text = readFileSync(log, 'utf8');
    if (code !== 0) throw new Error(`wrk against ${target.name} exited ${code}:\n${text}`);
    return { result: parseWrk(text), cpu };
  } finally {
    clearTimeout(guard);
    sampler?.dispose();
    await reaper.stop(child, 100);
  }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `wrk --latency` output. */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(text);
    if (!m) throw new Error(`cannot find ${what} in wrk output:\n${text}`);
    return m;
  };
  const pct = (p: number) => {
    const m = num(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'), `the ${p}% latency`);
    return round(Number(m[1]) * UNIT_MS[m[2]!]!, 3);
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socket_errors = { connect: Number(sock?.[1] ?? 0), read: Number(sock?.[2] ?? 0), write: Number(sock?.[3] ?? 0), timeout: Number(sock?.[4] ?? 0) };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requests: Number(num(/(\d+) requests in /, 'the request count')[1]),
    rps: round(Number(num(/Requests\/sec:\s+([\d.]+)/, 'Requests/sec')[1]), 0),
    p50_ms: pct(50),
    p90_ms: pct(90),
    p99_ms: pct(99),
    non2xx,
    socket_errors,
    errors: non2xx + socket_errors.connect + socket_errors.read + socket_errors.write + socket_errors.timeout,
  };
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
