/**
 * Where the proxy workers' connections should be, decided from how busy each worker's event loop is.
 *
 * Every worker accepts from the shared listening socket, so the kernel spreads new connections over
 * them as they arrive. At low traffic that costs: each worker wakes for a share of the requests, and a
 * Node process that wakes rarely pays more CPU per request (measured on two cores at 1,000 req/s: two
 * workers 385 µs a request and +3.4–3.9 ms at p99, the same two with every connection on one of them
 * 233 µs and +1.5–2.0 ms). So while the whole proxy would keep one worker less than half busy, the
 * connections are packed onto the first worker (its `home`): the others answer each request and close
 * its connection (`Connection: close`, or GOAWAY on HTTP/2), which the client reopens, until it lands
 * on the home worker. A client is told before it sends again, so no request is lost to it.
 *
 * Once the home worker gets busy the workers spread again, and a busy worker sheds a connection now
 * and then while another is idle, so connections packed earlier find their way to the idle one.
 */

/** What a worker does with the connections of the requests it answers. */
export type Shed = 'none' | 'all' | 'some';

export interface PackingOptions {
  /** The workers pack when their loops' utilizations add up to less than this... */
  packBelow: number;
  /** ...for this long. */
  settleMs: number;
  /** Packed workers spread again when the home worker's utilization is above this. */
  homeBusy: number;
  /** Spread out, a worker this busy sheds some connections while another is below `idle`. */
  busy: number;
  idle: number;
}

export const PACKING: PackingOptions = { packBelow: 0.5, settleMs: 2000, homeBusy: 0.7, busy: 0.85, idle: 0.5 };

/**
 * `HANGAR_PROXY_PACKING`: unset for the defaults, `off` to never pack nor shed, or `key:value` pairs
 * (comma-separated) overriding some of PACKING. A bad value is an error naming what is expected.
 */
export function parsePacking(text: string | undefined): PackingOptions | false {
  if (text === undefined || text.trim() === '') return PACKING;
  if (text.trim() === 'off') return false;
  const out = { ...PACKING };
  for (const pair of text.split(',')) {
    const [key, value] = pair.split(':').map((x) => x.trim());
    const v = Number(value);
    if (!key || !(key in PACKING) || value === undefined || value === '' || !Number.isFinite(v) || v < 0) {
      throw new Error(`HANGAR_PROXY_PACKING: expected "off" or key:value pairs of ${Object.keys(PACKING).join(', ')} (numbers ≥ 0), got ${JSON.stringify(text)}`);
    }
    out[key as keyof PackingOptions] = v;
  }
  return out;
}

export class Packing {
  private readonly elu = new Map<number, number>();
  private readonly told = new Map<number, Shed>();
  private packed = true;
  private calmSince?: number;

  constructor(private readonly o: PackingOptions = PACKING) {}

  /** Whether the workers are packed onto one. */
  get isPacked(): boolean {
    return this.packed;
  }

  /** A worker's event loop utilization (0–1) over its last report; answers the instructions that change. */
  report(worker: number, elu: number, now: number): Map<number, Shed> {
    this.elu.set(worker, elu);
    return this.decide(now);
  }

  /** A worker is gone: the next one may become home. */
  remove(worker: number, now: number): Map<number, Shed> {
    this.elu.delete(worker);
    this.told.delete(worker);
    return this.decide(now);
  }

  private decide(now: number): Map<number, Shed> {
    const workers = [...this.elu.keys()].sort((a, b) => a - b);
    const home = workers[0];
    const total = [...this.elu.values()].reduce((a, b) => a + b, 0);
    if (this.packed) {
      if (home !== undefined && this.elu.get(home)! > this.o.homeBusy) {
        this.packed = false;
        this.calmSince = undefined;
      }
    } else if (total < this.o.packBelow) {
      this.calmSince ??= now;
      if (now - this.calmSince >= this.o.settleMs) this.packed = true;
    } else {
      this.calmSince = undefined;
    }
    const anyIdle = workers.some((w) => this.elu.get(w)! < this.o.idle);
    const changed = new Map<number, Shed>();
    for (const w of workers) {
      const shed: Shed = this.packed ? (w === home ? 'none' : 'all') : this.elu.get(w)! >= this.o.busy && anyIdle ? 'some' : 'none';
      if ((this.told.get(w) ?? 'none') !== shed) changed.set(w, shed);
      this.told.set(w, shed);
    }
    return changed;
  }
}
