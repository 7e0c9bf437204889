/**
 * Paced request loops through hangar proxies, for bench:cluster. Each worker sends one request (a GET,
 * or a POST with a body) at a time over its own keep-alive connection, at most `rps` a second (a late
 * worker sends at once and does not catch up: this is load to count failures and see who answered, not
 * to find a throughput limit).
 * Every request becomes a Shot: when it was sent and answered, its status, the machine the entry proxy
 * picked (its `hangar-machine` header) and the machine whose body answered. Bounded in time (`maxMs`)
 * and per request (`timeoutMs`).
 */
import { Agent, request } from 'node:http';
import { PROXY_PORT } from '../test/cluster/cluster.js';

export interface Shot {
  /** The loop's name (usually the entry node's). */
  via: string;
  /** performance.now() when the request was sent and when its answer ended (or it failed). */
  sentAt: number;
  endAt: number;
  /** HTTP status; 0 when there was none (connection error, timeout). */
  status: number;
  /** The machine the entry proxy chose (`hangar-machine`), when it said. */
  machine?: string;
  /** The machine that wrote the body (`… (machine ID)`), when it said. */
  answeredBy?: string;
  /** For a 200, the body's message (the release's MESSAGE); else the error or the start of the body. */
  detail: string;
}

export interface LoopSpec {
  via: string;
  address: string;
  /** The app's Host header, e.g. `web.localhost`. */
  host: string;
  headers?: Record<string, string>;
  /** A POST with this body instead of a GET: the proxy cannot replay it once sent, so what its first pick did shows. */
  postBody?: string;
  workers: number;
  rps: number;
}

export class Loops {
  readonly shots: Shot[] = [];
  private stopped = false;
  private done?: Promise<unknown>;
  private readonly agents: Agent[] = [];

  constructor(
    private readonly specs: LoopSpec[],
    private readonly o: { maxMs: number; timeoutMs?: number },
  ) {}

  start(): this {
    const deadline = performance.now() + this.o.maxMs;
    const workers: Array<Promise<void>> = [];
    for (const s of this.specs) {
      for (let i = 0; i < s.workers; i++) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        this.agents.push(agent);
        workers.push(this.worker(s, agent, deadline));
      }
    }
    this.done = Promise.all(workers);
    return this;
  }

  /** Stops every worker after its request in flight (bounded by the request timeout) and returns the shots. */
  async stop(): Promise<Shot[]> {
    this.stopped = true;
    await this.done;
    for (const a of this.agents) a.destroy();
    return this.shots;
  }

  private async worker(s: LoopSpec, agent: Agent, deadline: number): Promise<void> {
    const gap = 1000 / s.rps;
    // Workers of one loop start spread over one gap, so they do not send in lockstep.
    let next = performance.now() + Math.random() * gap;
    while (!this.stopped && performance.now() < deadline) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (this.stopped) return;
      next = Math.max(next + gap, performance.now());
      this.shots.push(await shoot(s, agent, this.o.timeoutMs ?? 10_000));
    }
  }
}

function shoot(s: LoopSpec, agent: Agent, timeoutMs: number): Promise<Shot> {
  const sentAt = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (x: Omit<Shot, 'via' | 'sentAt' | 'endAt'>) => {
      if (settled) return;
      settled = true;
      resolve({ via: s.via, sentAt, endAt: performance.now(), ...x });
    };
    const body = s.postBody;
    const headers = { host: s.host, ...s.headers, ...(body !== undefined ? { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) } : {}) };
    const req = request({ host: s.address, port: PROXY_PORT, method: body !== undefined ? 'POST' : 'GET', path: '/', headers, agent, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text.length < 300 ? (text += c) : undefined));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const machine = res.headers['hangar-machine'] as string | undefined;
        const answeredBy = /\(machine ([^)\s]+)\)/.exec(text)?.[1];
        done({ status, machine, answeredBy, detail: status === 200 ? (text.split(' (')[0] ?? '') : text.trim().slice(0, 120) });
      });
      res.on('error', (err) => done({ status: 0, detail: `response error: ${(err as NodeJS.ErrnoException).code ?? err.message}` }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => done({ status: 0, detail: (err as NodeJS.ErrnoException).code ?? err.message }));
    req.end(body);
  });
}

/** Shots that failed (anything but a 200). */
export const failed = (shots: Shot[]) => shots.filter((s) => s.status !== 200);

/** Failures grouped by outcome: `{ "502 hangar proxy: …": 3 }`. */
export function failureKinds(shots: Shot[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of failed(shots)) {
    const k = `${s.status} ${s.detail}`.slice(0, 100);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
