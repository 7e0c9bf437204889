/**
 * Where the CPU went during a bench:proxy run, from /proc: per process group (proxy, upstream, wrk),
 * this process (the fixed-rate generator), and everything else on the host. "Other" matters on a small
 * shared box: anything else running steals CPU from the proxies, and the report should show it.
 * Samples periodically because wrk's own figures vanish from /proc the moment it exits.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** CPU used during the window, in % of one core. */
export interface CpuShare {
  groups: Record<string, number>;
  self: number;
  /** Busy CPU of the whole host minus the groups and this process. */
  other: number;
}

interface Sample {
  at: number;
  groups: Record<string, number>;
  self: number;
  hostBusy: number;
}

let clockTicks: number | undefined;
const ticks = () => (clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100);

/** Samples the named process groups every `intervalMs` until `stop()`, which returns the shares. */
export class CpuSampler {
  private first?: Sample;
  private last?: Sample;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly pgids: Record<string, number>,
    private readonly intervalMs = 250,
  ) {}

  start(): void {
    this.first = this.last = this.sample();
    this.timer = setInterval(() => (this.last = this.sample()), this.intervalMs);
  }

  /** Shares over first..last sample; the last is taken before any group exits, not after. */
  stop(opts: { sampleNow: boolean } = { sampleNow: true }): CpuShare {
    clearInterval(this.timer);
    if (opts.sampleNow) this.last = this.sample();
    const a = this.first!;
    const b = this.last!;
    const secs = Math.max(1e-3, (b.at - a.at) / 1000);
    const pct = (cpu: number) => Math.max(0, Math.round((cpu / secs) * 100));
    const groups: Record<string, number> = {};
    let known = b.self - a.self;
    for (const name of Object.keys(this.pgids)) {
      const d = (b.groups[name] ?? 0) - (a.groups[name] ?? 0);
      groups[name] = pct(d);
      known += d;
    }
    return { groups, self: pct(b.self - a.self), other: pct(b.hostBusy - a.hostBusy - known) };
  }

  /** Stops sampling without computing anything (cleanup on an error path). */
  dispose(): void {
    clearInterval(this.timer);
  }

  private sample(): Sample {
    const byPgid = groupTicks(new Set(Object.values(this.pgids)));
    const groups: Record<string, number> = {};
    for (const [name, pgid] of Object.entries(this.pgids)) groups[name] = (byPgid.get(pgid) ?? 0) / ticks();
    const u = process.cpuUsage();
    return { at: performance.now(), groups, self: (u.user + u.system) / 1e6, hostBusy: hostBusySeconds() };
  }
}

/** utime + stime ticks of every live process, summed per wanted process group. */
function groupTicks(wanted: Set<number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the parenthesised command name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(f[2]);
    if (wanted.has(pgrp)) out.set(pgrp, (out.get(pgrp) ?? 0) + Number(f[11]) + Number(f[12]));
  }
  return out;
}

/** Busy seconds of all CPUs together since boot (everything but idle and iowait). */
function hostBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / ticks();
}

/**
 * Waits (up to `maxMs`) for a 500 ms window in which the rest of the host used less than `belowPct` of
 * a core, so a run does not start in the middle of someone else's burst. Returns the last window's
 * figure and how long it waited; never fails (a busy host is reported, not fatal).
 */
export async function waitForQuiet(belowPct: number, maxMs: number): Promise<{ otherPct: number; waitedMs: number }> {
  const t0 = performance.now();
  for (;;) {
    const s = new CpuSampler({});
    s.start();
    await new Promise((r) => setTimeout(r, 500));
    const other = s.stop().other;
    const waitedMs = Math.round(performance.now() - t0);
    if (other < belowPct || waitedMs >= maxMs) return { otherPct: other, waitedMs };
  }
}
