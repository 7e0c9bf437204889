/**
 * An open-loop, fixed-rate load generator (wrk cannot hold a rate): request i of a slice is due at
 * start + i/rate whether or not earlier ones have answered, over keep-alive connections. Each request's
 * latency is timed from the moment it was sent to the end of its body; how late the generator itself
 * sent each one (event-loop lag) is kept separately so a stalled generator cannot pass for a slow proxy.
 * A run is made of slices that add to one Recording, so two targets can be measured interleaved
 * (direct, hangar, direct, …) and share whatever else the host is doing. Every slice has a fixed
 * request count and a hard deadline.
 */
import { Agent, request } from 'node:http';
import type { Target } from './proxy-http.js';
import { round } from './proxy-wrk.js';

export interface RateResult {
  rate: number;
  sent: number;
  ok: number;
  non2xx: number;
  /** Non-2xx answers plus failed or unanswered requests. */
  errors: number;
  /** Up to five distinct error messages with counts, for the report. */
  error_samples: string[];
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  max_ms: number;
  /** p99 of how late requests were sent relative to their schedule. */
  send_lag_p99_ms: number;
  achieved_rps: number;
}

/** Everything one target's slices recorded. */
export class Recording {
  readonly latency: number[] = [];
  readonly lag: number[] = [];
  readonly errors = new Map<string, number>();
  non2xx = 0;
  answered = 0;
  sent = 0;
  sendingMs = 0;
  constructor(
    readonly target: Target,
    readonly rate: number,
    /**
     * The target's own keep-alive pool, kept across slices (and from the warm-up). Idle sockets close
     * after 4 s, before the echo app's (Node's default) 5 s keep-alive timeout, so the client never
     * reuses a socket the server is closing — a client-side ECONNRESET that says nothing about a proxy.
     */
    readonly agent = new Agent({ keepAlive: true, maxSockets: 512, timeout: 4000 }),
  ) {}

  error(label: string, n = 1): void {
    this.errors.set(label, (this.errors.get(label) ?? 0) + n);
  }
}

/** Sends `rate × durationMs` GETs at the recording's rate; resolves once all are answered or at the deadline. */
export async function rateSlice(rec: Recording, durationMs: number, timeoutMs = 5000): Promise<void> {
  const total = Math.round((rec.rate * durationMs) / 1000);
  const u = new URL(rec.target.url);
  const spec: SendSpec = { host: u.hostname, port: Number(u.port), path: u.pathname, headers: rec.target.host ? { host: rec.target.host } : {}, agent: rec.agent, timeoutMs };
  const t0 = performance.now();
  let next = 0;
  let done = 0;
  let timer: NodeJS.Timeout | undefined;
  const finished = new Promise<void>((resolve) => {
    const fire = (i: number) => {
      const sentAt = performance.now();
      rec.lag.push(sentAt - (t0 + (i * 1000) / rec.rate));
      rec.sent++;
      sendOne(spec, (err, status) => {
        if (err) rec.error(err);
        else if (status < 200 || status > 299) rec.non2xx++;
        else rec.latency.push(performance.now() - sentAt);
        rec.answered++;
        if (++done === total) resolve();
      });
    };
    // setTimeout(1) ticks about every millisecond; each tick sends whatever has come due.
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rec.rate) / 1000) + 1);
      while (next < due) fire(next++);
      if (next < total) timer = setTimeout(tick, 1);
      else rec.sendingMs += performance.now() - t0;
    };
    tick();
  });
  let deadlineTimer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => (deadlineTimer = setTimeout(r, durationMs + timeoutMs + 2000)));
  await Promise.race([finished, deadline]);
  clearTimeout(timer);
  clearTimeout(deadlineTimer);
  if (done < total) rec.error(`no answer by the slice deadline (${next} of ${total} sent)`, total - done);
}

interface SendSpec {
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  agent: Agent;
  timeoutMs: number;
}

/** One GET, draining the body; calls back exactly once with an error label or the status. */
function sendOne(s: SendSpec, cb: (err: string | undefined, status: number) => void): void {
  let called = false;
  const once = (err: string | undefined, status: number) => {
    if (!called) {
      called = true;
      cb(err, status);
    }
  };
  const req = request({ host: s.host, port: s.port, path: s.path, headers: s.headers, agent: s.agent }, (res) => {
    res.on('data', () => undefined);
    res.on('end', () => once(undefined, res.statusCode ?? 0));
    res.on('error', (e: NodeJS.ErrnoException) => once(e.code ?? e.message, 0));
    res.on('aborted', () => once('response aborted', 0));
  });
  req.setTimeout(s.timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: `timeout after ${s.timeoutMs} ms` })));
  req.on('error', (e: NodeJS.ErrnoException) => once(e.code ?? e.message, 0));
  req.end();
}

/** Percentiles and counts over every slice of a recording. */
export function summarise(rec: Recording): RateResult {
  const lat = [...rec.latency].sort((a, b) => a - b);
  const lag = [...rec.lag].sort((a, b) => a - b);
  const failed = [...rec.errors.values()].reduce((a, b) => a + b, 0);
  return {
    rate: rec.rate,
    sent: rec.sent,
    ok: lat.length,
    non2xx: rec.non2xx,
    errors: failed + rec.non2xx,
    error_samples: [...rec.errors.entries()].slice(0, 5).map(([e, n]) => `${e} ×${n}`),
    p50_ms: percentile(lat, 50),
    p90_ms: percentile(lat, 90),
    p99_ms: percentile(lat, 99),
    max_ms: lat.length ? round(lat[lat.length - 1]!, 3) : NaN,
    send_lag_p99_ms: percentile(lag, 99),
    achieved_rps: rec.sendingMs > 0 ? round((rec.sent / rec.sendingMs) * 1000, 0) : 0,
  };
}

/** Nearest-rank percentile of sorted values, in ms with 3 decimals (NaN when empty). */
function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return round(sorted[i]!, 3);
}
