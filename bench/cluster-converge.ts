/**
 * Routing convergence across the cluster: how long after a machine's check turns red on its own host
 * the last of the other proxies stops routing to it, and how long after it turns green again they all
 * route to it again.
 *
 * A probe has to tell, with one request, whether a proxy would route to the machine. It uses an app of
 * two machines: X, alone in region sjc (on sjc-1), and Y in fra. Every probe asks for region sjc
 * (`fly-prefer-region`), so a proxy whose table has X routable always picks X, and one that has taken
 * X out picks Y. The picked machine is the entry proxy's `hangar-machine` response header (a relayed
 * request carries the relaying node's pick in it). Probes are POSTs with a body: a GET that a proxy
 * still relays to X would be refused by X's node (no routable machine of the app there) and replayed
 * on Y, and so look switched before the proxy's table is; a POST cannot be replayed, and comes back
 * as the owner's 503 naming X instead. Each proxy is probed every 10 ms. The check turns
 * red through the echo app's HEALTH_FAIL_FILE; the moment the owner's proxy stops picking X is the
 * moment its check was seen red (the owner's proxy and health checks share one routing table).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoConfig, FIXTURE_APP, uploadEcho } from '../test/helpers.js';
import type { Cluster, ClusterNode } from '../test/cluster/cluster.js';
import { Loops, type Shot } from './cluster-load.js';
import { until, type Scope } from './cluster-scope.js';

const APP = 'conv';
const PROBE_RPS = 100;
/** After the last proxy switched, probing goes on this long to catch a proxy switching back. */
const TAIL_MS = 300;
const SWITCH_DEADLINE_MS = 5000;
const CHECKS = [{ type: 'http', path: '/health', interval: '100ms', timeout: '1s', grace_period: '0s' }];

export interface Switch {
  /** Per node: flag written (or removed) → its first probe that saw the new routing, ms (NaN: never within the deadline). */
  fromFlagMs: Record<string, number>;
  /** Per node: the gap between its last probe on the old routing and its first on the new one (the measurement's resolution). */
  gapMs: Record<string, number>;
  /** The owner's switch → the last other node's switch, ms. */
  lastLagMs: number;
  /** Probes that went back to the old routing after a node had switched. */
  flipBacks: number;
  /** Probes answered other than 200 (a POST a proxy still sent to X after its owner took X out gets the owner's 503). */
  failed: number;
}

export interface ConvergenceFigures {
  owner: string;
  trials: Array<{ red: Switch; green: Switch }>;
}

/** Creates the probe app, then runs `trials` red/green rounds. */
export async function convergence(scope: Scope, c: Cluster, trials: number): Promise<ConvergenceFigures> {
  const via = c.node('ams-1');
  const flags = mkdtempSync(join(tmpdir(), 'hangar-bench-flags-'));
  scope.after(() => rmSync(flags, { recursive: true, force: true }));
  const res = await via.api('POST', '/v1/apps', { app_name: APP });
  if (res.status !== 201) throw new Error(`create app ${APP}: ${res.status} ${JSON.stringify(res.body)}`);
  const image = await uploadEcho(via, APP, FIXTURE_APP, 'c1');
  const make = async (name: string, region: string) => {
    const config = echoConfig(image, { env: { MESSAGE: name, HEALTH_FAIL_FILE: join(flags, name) }, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks: CHECKS }] });
    const r = await via.api<{ id: string; host: string }>('POST', `/v1/apps/${APP}/machines`, { name, region, config });
    if (r.status !== 201) throw new Error(`create machine ${name} in ${region}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const x = await make('x', 'sjc');
  await make('y', 'fra');
  const owner = c.node(x.host);
  const flag = join(flags, 'x');
  const out: ConvergenceFigures = { owner: owner.name, trials: [] };
  for (let i = 0; i < trials; i++) {
    await everyoneOn(c, x.id, 20_000);
    const red = await measureSwitch(c, owner, x.id, () => writeFileSync(flag, ''), (s) => s.machine !== x.id);
    const green = await measureSwitch(c, owner, x.id, () => rmSync(flag, { force: true }), (s) => s.machine === x.id);
    out.trials.push({ red, green });
  }
  return out;
}

const probeSpec = (n: ClusterNode) => ({ via: n.name, address: n.host.address, host: `${APP}.localhost`, headers: { 'fly-prefer-region': 'sjc' }, postBody: 'probe', workers: 1, rps: PROBE_RPS });

/** Every proxy picks X on three probes in a row. */
async function everyoneOn(c: Cluster, x: string, ms: number): Promise<void> {
  const loops = new Loops(c.nodes.map(probeSpec), { maxMs: ms, timeoutMs: 2000 }).start();
  try {
    await until(ms, `every proxy to route to ${x}`, () => (c.nodes.every((n) => loops.shots.filter((s) => s.via === n.name).slice(-3).filter((s) => s.machine === x).length === 3) ? true : undefined), 20);
  } finally {
    await loops.stop();
  }
}

/** Probes every proxy, flips the flag, and waits until every proxy's probes satisfy `switched`. */
async function measureSwitch(c: Cluster, owner: ClusterNode, x: string, flip: () => void, switched: (s: Shot) => boolean): Promise<Switch> {
  const loops = new Loops(c.nodes.map(probeSpec), { maxMs: SWITCH_DEADLINE_MS + 2000, timeoutMs: 2000 }).start();
  let shots: Shot[];
  let t0 = 0;
  try {
    // A few probes on the old routing first, so the gap before the first switched probe is known.
    await until(2000, 'the probes to flow', () => (c.nodes.every((n) => loops.shots.filter((s) => s.via === n.name).length >= 3) ? true : undefined), 10);
    t0 = performance.now();
    flip();
    const firstSwitched = (n: ClusterNode) => loops.shots.find((s) => s.via === n.name && s.sentAt > t0 && switched(s));
    await until(SWITCH_DEADLINE_MS, 'every proxy to switch', () => (c.nodes.every((n) => firstSwitched(n)) ? true : undefined), 10).catch(() => undefined);
    await new Promise((r) => setTimeout(r, TAIL_MS));
  } finally {
    shots = await loops.stop();
  }
  const fromFlagMs: Record<string, number> = {};
  const gapMs: Record<string, number> = {};
  let flipBacks = 0;
  for (const n of c.nodes) {
    const mine = shots.filter((s) => s.via === n.name);
    const first = mine.findIndex((s) => s.sentAt > t0 && switched(s));
    if (first < 0) {
      fromFlagMs[n.name] = NaN;
      gapMs[n.name] = NaN;
      continue;
    }
    fromFlagMs[n.name] = mine[first]!.sentAt - t0;
    gapMs[n.name] = first > 0 ? mine[first]!.sentAt - mine[first - 1]!.sentAt : NaN;
    flipBacks += mine.slice(first + 1).filter((s) => s.status === 200 && !switched(s)).length;
  }
  const others = c.nodes.filter((n) => n !== owner).map((n) => fromFlagMs[n.name]!);
  return {
    fromFlagMs,
    gapMs,
    lastLagMs: Math.max(...others) - fromFlagMs[owner.name]!,
    flipBacks,
    failed: shots.filter((s) => s.status !== 200).length,
  };
}
