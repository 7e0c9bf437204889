/**
 * A host whose node dies: `kill -9` of fra-2's node (its machines keep running, but nothing reaches them
 * through hangar any more) while every other node's proxy carries load that asks for region fra, so a
 * share of it goes to fra-2's machines. "Sending there" is read from each surviving node's own proxy
 * metrics (/metrics: requests per machine, a refused connection counted as failed), scraped every
 * 250 ms: traffic is off at the scrape after which the node's count for fra-2's machines never grows
 * again. Asking /v1/hosts instead would disturb the figure: listing hosts is what judges them, so
 * polling it would detect the host sooner than the node does by itself. Also per node: the requests
 * through its proxy that failed after the kill, and the last of them.
 */
import type { Cluster, ClusterNode } from '../test/cluster/cluster.js';
import { FLEET_APP, type MachineRow } from './cluster-deploy.js';
import { Loops, failureKinds } from './cluster-load.js';

export const VICTIM = 'fra-2';
/** Load before the kill, to see traffic reach the victim's machines. */
const BEFORE_MS = 1500;
const SCRAPE_MS = 250;
/** A node whose count for the victim has not grown for this long (at ~25 attempts a second before) has stopped. */
const QUIET_MS = 3000;
const DEADLINE_MS = 45_000;

export interface HostDownNode {
  name: string;
  /** Requests its proxy sent to the victim's machines in the BEFORE_MS before the kill. */
  toVictimBefore: number;
  requestsBefore: number;
  /** Kill → the scrape that saw the last growth of its count for the victim's machines, ms (0: none after the kill). */
  trafficOffMs: number;
  /** The scrape interval that growth fell in (the figure's resolution), ms. */
  resolutionMs: number;
  /** Attempts its proxy made on the victim's machines after the kill (each refused). */
  attemptsAfter: number;
  /** Kill → the end of the last failed request through its proxy, ms (0: none failed). */
  lastFailureMs: number;
  /** Requests through its proxy that failed after the kill, and those sent after its traffic was off. */
  failed: number;
  failedAfterOff: number;
  requestsAfter: number;
  /** What its /v1/hosts says of the victim at the end. */
  stateAtEnd: string;
}

export interface HostDownFigures {
  victim: string;
  victimMachines: number;
  killMs: number;
  /** Whether every node went quiet before the deadline. */
  settled: boolean;
  nodes: HostDownNode[];
  failures: Record<string, number>;
}

export async function hostDown(c: Cluster, fleet: MachineRow[]): Promise<HostDownFigures> {
  const victim = c.node(VICTIM);
  const others = c.nodes.filter((n) => n !== victim);
  const victimIds = new Set(fleet.filter((m) => m.host === VICTIM).map((m) => m.id));
  const loops = new Loops(
    others.map((n) => ({ via: n.name, address: n.host.address, host: `${FLEET_APP}.localhost`, headers: { 'fly-prefer-region': 'fra' }, workers: 2, rps: 25 })),
    { maxMs: BEFORE_MS + DEADLINE_MS + 5000, timeoutMs: 5000 },
  ).start();
  let t0 = 0;
  let killMs = 0;
  let scrapes: Map<string, Array<{ at: number; count: number }>>;
  try {
    await new Promise((r) => setTimeout(r, BEFORE_MS));
    const before = new Map(await Promise.all(others.map(async (n) => [n.name, await victimCount(n, victimIds)] as const)));
    t0 = performance.now();
    await victim.kill9();
    killMs = performance.now() - t0;
    scrapes = await scrapeUntilQuiet(others, victimIds, t0, before);
  } finally {
    await loops.stop();
  }
  const settled = others.every((n) => quietSince(scrapes.get(n.name)!, performance.now()) !== undefined);
  const nodes: HostDownNode[] = [];
  for (const n of others) {
    const mine = loops.shots.filter((s) => s.via === n.name);
    const beforeShots = mine.filter((s) => s.endAt < t0);
    const after = mine.filter((s) => s.endAt >= t0);
    const bad = after.filter((s) => s.status !== 200);
    const sc = scrapes.get(n.name)!;
    const grew = lastGrowth(sc);
    const off = grew ? grew.at : t0;
    const hosts = await n.api<Array<{ name: string; state: string }>>('GET', '/v1/hosts').catch(() => undefined);
    nodes.push({
      name: n.name,
      toVictimBefore: beforeShots.filter((s) => s.machine !== undefined && victimIds.has(s.machine)).length,
      requestsBefore: beforeShots.length,
      trafficOffMs: off - t0,
      resolutionMs: grew ? grew.at - grew.prevAt : 0,
      attemptsAfter: sc.at(-1)!.count - sc[0]!.count,
      lastFailureMs: bad.length ? Math.max(...bad.map((s) => s.endAt)) - t0 : 0,
      failed: bad.length,
      failedAfterOff: bad.filter((s) => s.sentAt > off).length,
      requestsAfter: after.length,
      stateAtEnd: hosts?.body.find((h) => h.name === VICTIM)?.state ?? 'unknown',
    });
  }
  return { victim: VICTIM, victimMachines: victimIds.size, killMs, settled, nodes, failures: failureKinds(loops.shots.filter((s) => s.endAt >= t0)) };
}

/** Scrapes every node until each has been quiet for QUIET_MS (or the deadline); the first entry is the count just before the kill. */
async function scrapeUntilQuiet(nodes: ClusterNode[], ids: Set<string>, t0: number, before: Map<string, number>): Promise<Map<string, Array<{ at: number; count: number }>>> {
  const out = new Map(nodes.map((n) => [n.name, [{ at: t0, count: before.get(n.name)! }]]));
  while (performance.now() - t0 < DEADLINE_MS) {
    await new Promise((r) => setTimeout(r, SCRAPE_MS));
    await Promise.all(
      nodes.map(async (n) => {
        const count = await victimCount(n, ids).catch(() => undefined);
        if (count !== undefined) out.get(n.name)!.push({ at: performance.now(), count });
      }),
    );
    const now = performance.now();
    if (nodes.every((n) => quietSince(out.get(n.name)!, now) !== undefined)) break;
  }
  return out;
}

/** When the count last grew, if it has not grown for QUIET_MS by `now`. */
function quietSince(sc: Array<{ at: number; count: number }>, now: number): number | undefined {
  const at = lastGrowth(sc)?.at ?? sc[0]!.at;
  return now - at >= QUIET_MS ? at : undefined;
}

function lastGrowth(sc: Array<{ at: number; count: number }>): { at: number; prevAt: number } | undefined {
  for (let i = sc.length - 1; i > 0; i--) if (sc[i]!.count > sc[i - 1]!.count) return { at: sc[i]!.at, prevAt: sc[i - 1]!.at };
  return undefined;
}

/** The node's proxy's request count (every class, failed included) for the given machines of the fleet app. */
async function victimCount(n: ClusterNode, ids: Set<string>): Promise<number> {
  const r = await n.api<string>('GET', '/metrics');
  if (r.status !== 200 || typeof r.body !== 'string') throw new Error(`${n.name} /metrics: ${r.status}`);
  let total = 0;
  for (const line of r.body.split('\n')) {
    if (!line.startsWith('hangar_proxy_requests_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (labels.app === FLEET_APP && ids.has(labels.machine ?? '')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
