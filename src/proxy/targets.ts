import { setTimeout as delay } from 'node:timers/promises';
import type { IncomingMessage } from 'node:http';
import { limited, NO_PERMIT, type Held, type Permits } from './permits.js';
import type { Steer } from './replay.js';
import type { Backend, PickOptions, RoutingTable } from './routing-table.js';

/** What choosing a machine for a request needs: the table, places counted over workers, autostart. */
export interface TargetsDeps {
  table: RoutingTable;
  permits?: Permits;
  /** No machine of `app` has room for a request (none routable, or all over their soft limit). */
  onNoCapacity?: (app: string) => void;
}

/**
 * Which machine a request goes to, and the place it holds on it: at once when one is routable with
 * room, else the first that becomes so within the hold window (an autostart asked for meanwhile).
 */
export class Targets {
  constructor(private readonly deps: TargetsDeps) {}

  /** What the routing table is asked for a request steered by `steer` (not `tried` after a failed connect). */
  private pick(steer: Steer, req: IncomingMessage, tried: Set<string>): Backend | undefined {
    const table = this.deps.table;
    if (steer.only !== undefined) return table.pick(steer.app, { only: steer.only });
    const base = steer.exclude !== undefined ? new Set([steer.exclude]) : undefined;
    const opts: PickOptions = { region: steer.preferRegion, regions: steer.regions, preferMachine: steer.preferMachine, headers: req.headers, exclude: base };
    if (tried.size === 0) return table.pick(steer.app, opts);
    // A machine that refused the connection is passed over, unless it is the only one left.
    const first = table.pick(steer.app, { ...opts, exclude: new Set([...tried, ...(base ?? [])]) });
    return first ?? table.pick(steer.app, opts);
  }

  /**
   * A routable backend now, or the first one to appear before `deadline` (after the next routing change
   * when `afterChange`: the machine just refused the request and the table has not caught up yet).
   * The common case is answered without a promise: a routable machine with room that needs no place
   * counted over the workers (it runs for every request).
   */
  target(steer: Steer, req: IncomingMessage, tried: Set<string>, deadline: number, afterChange = false): Held | Promise<Held | undefined> {
    if (!afterChange) {
      const b = this.pick(steer, req, tried);
      if (b && !(this.deps.permits && limited(b)) && (b.softLimit === undefined || b.inflight < b.softLimit)) return { b, done: NO_PERMIT };
    }
    return this.held(steer, req, tried, deadline, afterChange);
  }

  /** `target` the long way: waiting for a machine, a place on it, or both. */
  private async held(steer: Steer, req: IncomingMessage, tried: Set<string>, deadline: number, afterChange: boolean): Promise<Held | undefined> {
    for (let first = true; ; first = false) {
      const b = await this.pickTarget(steer, req, tried, deadline, afterChange && first);
      if (!b) return undefined;
      const done = await this.place(b);
      if (done) return { b, done };
      // Full over every worker. The daemon sent the count that filled it before this refusal, so the
      // table already passes it over; a count not seen yet is waited for a moment, not asked in a loop.
      // (Marking it full here could undo a later "room again" that arrived meanwhile.)
      if ((b.shared ?? b.inflight) < (b.hardLimit ?? Infinity)) await delay(5);
      if (Date.now() >= deadline) return undefined;
    }
  }

  /** A place on `b` when it is limited and the proxy runs in workers (else nothing to take): its release, or undefined when full. */
  async place(b: Backend): Promise<(() => void) | undefined> {
    const permits = this.deps.permits;
    return permits && limited(b) ? permits.acquire(b) : NO_PERMIT;
  }

  private async pickTarget(steer: Steer, req: IncomingMessage, tried: Set<string>, deadline: number, afterChange = false): Promise<Backend | undefined> {
    const table = this.deps.table;
    const { app } = steer;
    const pick = () => this.pick(steer, req, tried);
    if (!afterChange) {
      const now = pick();
      if (now && (now.softLimit === undefined || now.inflight < now.softLimit)) return now;
      // No machine with room: autostart may bring a stopped one up while this request holds (not for a
      // request to one machine only: autostart would start any machine of the app).
      if (steer.only === undefined) this.deps.onNoCapacity?.(app);
      if (now) return now;
    }
    const holdMs = deadline - Date.now();
    if (holdMs <= 0) return undefined;
    // An HTTP/2 request ends with its stream; an HTTP/1.1 one with its connection.
    const gone = req.httpVersionMajor === 2 ? req : req.socket;
    return new Promise<Backend | undefined>((resolve) => {
      const done = (b: Backend | undefined) => {
        clearTimeout(timer);
        off();
        gone.off('close', onClose);
        resolve(b);
      };
      const off = table.onChange((changed) => {
        if (changed !== app) return;
        const b = pick();
        if (b) done(b);
      });
      const timer = setTimeout(() => done(undefined), holdMs);
      const onClose = () => done(undefined);
      gone.once('close', onClose);
    });
  }
}
