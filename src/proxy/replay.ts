/**
 * Fly's request steering, as hangar's proxy does it: the `fly-force-instance-id` request header (one
 * machine, nowhere else) and the `fly-replay` response header (the proxy sends the original request
 * again, to the region, machine or app the header names, with `fly-replay-src` telling the new target
 * where it came from). This file holds the parts that need no sockets: the header formats, the routing
 * a replay asks for, and the bounded copy of a request body that makes a replay possible.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

/** Request headers that send a request to exactly one machine of the app (first one set wins). */
export const FORCE_INSTANCE_HEADERS = ['hangar-force-instance-id', 'fly-force-instance-id'] as const;
/** Response header a machine sets to have the proxy replay the request elsewhere. */
export const REPLAY_HEADER = 'fly-replay';
/** Request header the proxy adds to a replayed request: who asked for the replay, from where, when. */
export const REPLAY_SRC_HEADER = 'fly-replay-src';
/** The largest request body the proxy keeps for a replay (Fly's limit too). */
export const REPLAY_BODY_LIMIT = 1024 * 1024;
/** Replays of one request; a target that asks for one more is answered 508 (a replay loop). */
export const MAX_REPLAYS = 3;

/** Where the next exchange of a request may go. */
export interface Steer {
  app: string;
  /** Only this machine, whatever its load, region or traffic set (force header, `instance=`). */
  only?: string;
  /** What asked for `only`, for the proxy's own answers: the header name or `fly-replay instance=…`. */
  onlyBy?: string;
  /** Only these regions, the first that has a machine (`any`: every region). */
  regions?: string[];
  /** This machine if it can take the request, else the usual choice (`prefer_instance=`). */
  preferMachine?: string;
  /** Preferred, not required (`fly-prefer-region`). */
  preferRegion?: string;
  /** Never this machine (`elsewhere=true` names the machine that asked). */
  exclude?: string;
}

/** What a `fly-replay` header asks for. */
export interface ReplayAsk {
  app?: string;
  regions?: string[];
  instance?: string;
  preferInstance?: string;
  state?: string;
  elsewhere: boolean;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Reads a `fly-replay` value: `key=value` fields separated by `;`, values optionally in double quotes
 * (a region list must be: `region="ams,fra"`). Fields hangar does not know are ignored, as Fly ignores
 * them; a header naming no target at all is refused.
 */
export function parseReplay(raw: string): Parsed<ReplayAsk> {
  const ask: ReplayAsk = { elsewhere: false };
  let targets = 0;
  for (const field of splitFields(raw)) {
    const eq = field.indexOf('=');
    if (eq <= 0) return { ok: false, error: `field ${JSON.stringify(field)} is not key=value` };
    const key = field.slice(0, eq).trim().toLowerCase();
    const value = unquote(field.slice(eq + 1).trim());
    if (value === '' && key !== 'state') return { ok: false, error: `${key}= is empty` };
    switch (key) {
      case 'region':
        ask.regions = value.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean);
        targets++;
        break;
      case 'instance':
        ask.instance = value;
        targets++;
        break;
      case 'prefer_instance':
        ask.preferInstance = value;
        targets++;
        break;
      case 'app':
        ask.app = value;
        targets++;
        break;
      case 'state':
        ask.state = value;
        break;
      case 'elsewhere':
        if (value !== 'true' && value !== 'false') return { ok: false, error: `elsewhere=${value} is not true or false` };
        ask.elsewhere = value === 'true';
        if (ask.elsewhere) targets++;
        break;
      default:
        break;
    }
  }
  if (targets === 0) return { ok: false, error: 'it names no region, instance, prefer_instance, app or elsewhere=true' };
  return { ok: true, value: ask };
}

/** The steering of the exchange a replay asks for; `from` is the machine that asked, of app `fromApp`. */
export function steerForReplay(ask: ReplayAsk, from: { machineId: string; app: string }, previous: Steer): Steer {
  const app = ask.app ?? from.app;
  return {
    app,
    only: ask.instance,
    onlyBy: ask.instance ? `fly-replay instance=${ask.instance}` : undefined,
    regions: ask.regions,
    preferMachine: ask.preferInstance,
    // The client's own region preference still counts where the replay does not name regions.
    preferRegion: ask.regions ? undefined : previous.preferRegion,
    exclude: ask.elsewhere ? from.machineId : undefined,
  };
}

/** `fly-replay-src` for a replay asked by `instance` in `region`: `instance=…;region=…;t=<µs since epoch>[;state=…]`. */
export function replaySource(instance: string, region: string, state: string | undefined, nowMs = Date.now()): string {
  const t = `${Math.round(nowMs * 1000)}`;
  const fields = [`instance=${instance}`, `region=${region}`, `t=${t}`];
  if (state !== undefined) fields.push(`state=${/[;",\s]/.test(state) ? JSON.stringify(state) : state}`);
  return fields.join(';');
}

/**
 * Why a request found no machine within the hold window: the answer's body and the line for `hangar
 * logs`, naming the machine or regions the request was steered to.
 */
export function unroutable(steer: Steer, holdMs: number): { answer: string; log: string } {
  const { app, only, regions } = steer;
  if (only) {
    return {
      answer: `machine ${only} of app ${app} is not routable (waited ${holdMs} ms); a request for it (${steer.onlyBy}) goes to no other machine`,
      log: `Machine ${only} not routable for a request sent to it (${steer.onlyBy}): held ${holdMs} ms (hold timeout), then answered 503`,
    };
  }
  if (regions?.length) {
    return {
      answer: `app ${app} has no healthy machine in region ${regions.join(', ')} (waited ${holdMs} ms) for a replayed request (fly-replay)`,
      log: `No healthy machine in region ${regions.join(', ')} for a replayed request: held ${holdMs} ms (hold timeout), then answered 503`,
    };
  }
  return { answer: `app ${app} has no healthy machine (waited ${holdMs} ms)`, log: `No healthy machine: the request was held ${holdMs} ms (hold timeout), then answered 503` };
}

/** The machine a request names in a force header, if any. */
export function forcedInstance(headers: IncomingHttpHeaders): { machineId: string; header: string } | undefined {
  for (const h of FORCE_INSTANCE_HEADERS) {
    const v = headers[h];
    if (typeof v === 'string' && v.trim() !== '') return { machineId: v.trim(), header: h };
  }
  return undefined;
}

/** Where a kept body stands: all of it here, more than the limit (nothing kept), or the client left. */
export type BodyState = 'complete' | 'overflow' | 'aborted';

/**
 * The request body as it streams to the first machine, kept (up to `limit` bytes) until that machine's
 * response headers arrive: then it is dropped, unless the machine asked for a replay. Nothing is copied
 * (the chunks are the ones piped upstream), and a request without a body keeps nothing at all.
 */
export class BodyCapture {
  private chunks: Buffer[] = [];
  private size = 0;
  private state: BodyState | 'recording' | 'released';
  private readonly waiters: Array<(s: BodyState) => void> = [];
  private req?: IncomingMessage;
  /** Made on attach only: most requests never keep a byte. */
  private onData?: (c: Buffer) => void;

  /** A capture for `req`: already complete when it has no body, already overflowed when it says it is too big. */
  static of(req: IncomingMessage, limit = REPLAY_BODY_LIMIT): BodyCapture {
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    if (te === undefined && (cl === undefined || cl === '0')) return new BodyCapture(limit, 'complete');
    if (te === undefined && Number(cl) > limit) return new BodyCapture(limit, 'overflow');
    return new BodyCapture(limit, 'recording');
  }

  private constructor(
    private readonly limit: number,
    initial: BodyState | 'recording',
  ) {
    this.state = initial;
  }

  /**
   * Starts keeping what `req` emits; called right before the body is piped upstream. Only a `data`
   * listener: the end of the body is only watched for once a replay waits for it (`settled`).
   */
  attach(req: IncomingMessage): void {
    if (this.state !== 'recording' || this.req) return;
    this.req = req;
    this.onData = (c) => this.add(c);
    req.on('data', this.onData);
  }

  /** Whether the body could be sent again (kept whole or still arriving within the limit). */
  get resendable(): boolean {
    return this.state === 'complete' || this.state === 'recording';
  }

  /** The first machine answered normally: nothing will be replayed, stop keeping the body. */
  release(): void {
    if (this.state !== 'recording' && this.state !== 'complete') return;
    this.detach();
    this.chunks = [];
    this.size = 0;
    this.state = 'released';
  }

  /** Resolves once the whole body is here, or it went over the limit, or the client left. */
  settled(): Promise<BodyState> {
    if (this.state === 'recording' && this.req?.readableEnded) this.settle('complete');
    else if (this.state === 'recording' && this.req?.destroyed) this.settle('aborted');
    if (this.state === 'complete' || this.state === 'overflow' || this.state === 'aborted') return Promise.resolve(this.state);
    if (this.state === 'released' || !this.req) return Promise.resolve('overflow');
    const req = this.req;
    const end = () => this.settle('complete');
    const close = () => this.settle('aborted');
    req.once('end', end);
    req.once('close', close);
    // Upstream may have stopped reading (a replay answered before the upload ended): keep it flowing.
    req.resume();
    return new Promise((resolve) =>
      this.waiters.push((s) => {
        req.off('end', end);
        req.off('close', close);
        resolve(s);
      }),
    );
  }

  /** The kept body (only meaningful once `settled()` said `complete`). */
  body(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
  }

  private add(c: Buffer): void {
    this.size += c.length;
    if (this.size > this.limit) return this.settle('overflow');
    this.chunks.push(c);
  }

  private settle(s: BodyState): void {
    if (this.state !== 'recording') return;
    this.state = s;
    this.detach();
    if (s !== 'complete') this.chunks = [];
    for (const w of this.waiters.splice(0)) w(s);
  }

  private detach(): void {
    if (this.req && this.onData) this.req.off('data', this.onData);
    this.onData = undefined;
  }
}

function splitFields(raw: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of raw) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    try {
      return JSON.parse(v) as string;
    } catch {
      return v.slice(1, -1);
    }
  }
  return v;
}
