/**
 * Open-loop load for bench:deploy: request i is due at start + i/rate whether or not earlier ones have
 * answered (a closed loop would slow down exactly when the proxy stalls, and hide the stall). Requests go
 * through hangar's proxy with the app's Host header over keep-alive connections. Every request becomes
 * one Sample: when it was due, how late it was sent, its latency and its outcome. Bounded in time
 * (`maxMs`), in requests in flight (`maxInflight`; a request over the cap counts as failed) and per
 * request (`timeoutMs`).
 */
import { Agent, request } from 'node:http';

export interface Sample {
  /** performance.now() when the request was due. */
  due: number;
  /** How late the generator sent it (event-loop lag), ms. */
  lagMs: number;
  /** Sent → end of body, ms (NaN when it never got an answer). */
  ms: number;
  /** HTTP status; 0 when the request failed without one. */
  status: number;
  /** For a non-200: the error or the start of the body. For a 200: the MESSAGE the app answered with. */
  detail: string;
  /** The machine that answered, from the echo app's body `… (machine <id>)`; undefined when it did not say. */
  machine?: string;
  /** Wall clock (Date.now()) when the answer ended or the request failed — comparable with the daemon's event times. */
  endAt: number;
}

export interface LoadOptions {
  proxy: URL;
  host: string;
  rps: number;
  maxMs: number;
  maxInflight?: number;
  timeoutMs?: number;
}

export class OpenLoopLoad {
  readonly samples: Sample[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  private timer?: NodeJS.Timeout;
  private t0 = 0;
  private sent = 0;
  private inflight = 0;
  private drained?: () => void;

  constructor(private readonly o: LoadOptions) {}

  start(): void {
    this.t0 = performance.now();
    // A 5 ms tick sends whatever has come due; a late tick catches up, stamping each request's lag.
    this.timer = setInterval(() => this.tick(), 5);
    this.tick();
  }

  /** Stops sending and waits (bounded by the request timeout) for the answers still in flight. */
  async stop(): Promise<Sample[]> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.inflight > 0) await new Promise<void>((r) => (this.drained = r));
    this.agent.destroy();
    return this.samples;
  }

  private tick(): void {
    const now = performance.now();
    if (now - this.t0 > this.o.maxMs) {
      clearInterval(this.timer);
      return;
    }
    const due = Math.floor(((now - this.t0) * this.o.rps) / 1000) + 1;
    for (; this.sent < due; this.sent++) {
      const at = this.t0 + (this.sent * 1000) / this.o.rps;
      if (this.inflight >= (this.o.maxInflight ?? 2000)) this.samples.push({ due: at, lagMs: now - at, ms: NaN, status: 0, detail: 'not sent: generator in-flight cap reached', endAt: Date.now() });
      else this.one(at, now);
    }
  }

  private one(due: number, sentAt: number): void {
    this.inflight++;
    let settled = false;
    const done = (status: number, detail: string, machine?: string) => {
      if (settled) return;
      settled = true;
      this.samples.push({ due, lagMs: sentAt - due, ms: status === 0 ? NaN : performance.now() - sentAt, status, detail, machine, endAt: Date.now() });
      if (--this.inflight === 0 && this.drained) this.drained();
    };
    const req = request({ host: this.o.proxy.hostname, port: this.o.proxy.port, path: '/', headers: { host: this.o.host }, agent: this.agent, timeout: this.o.timeoutMs ?? 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body.length < 200 ? (body += c) : undefined));
      res.on('end', () => done(res.statusCode ?? 0, res.statusCode === 200 ? (body.split(' (')[0] ?? '') : body.trim().slice(0, 120), /\(machine ([^)\s]+)\)/.exec(body)?.[1]));
      res.on('error', (err) => done(0, `response error: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 10_000} ms`)));
    req.on('error', (err) => done(0, (err as NodeJS.ErrnoException).code ?? err.message));
    req.end();
  }
}
