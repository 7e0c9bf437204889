/**
 * The machines API through the node that owns the machines against through one that does not. An app
 * whose machines all go to region sjc (one host, sjc-1): create machine and list machines, each asked
 * of sjc-1 (local) and of ams-1 (cross-node: a create is placed there and carried out by sjc-1 over the
 * internal API; a list reads the shared state either way), alternating which goes first so both share
 * whatever else the machine is doing. One create each way first warms up (the image reaches sjc-1).
 */
import { echoConfig, FIXTURE_APP, uploadEcho } from '../test/helpers.js';
import type { Cluster, ClusterNode } from '../test/cluster/cluster.js';
import { FLEET_APP, p, type MachineRow } from './cluster-deploy.js';

const APP = 'api';
const LOCAL = 'sjc-1';
const CROSS = 'ams-1';

export interface ApiFigures {
  local: string;
  cross: string;
  create: { local: number[]; cross: number[] };
  list: { local: number[]; cross: number[]; machines: number };
  /** A fleet machine on sjc-1 as its owner and as another node show it: how many checks, and their statuses. */
  checksSeen: { owner: string; other: string };
}

export async function apiTimings(c: Cluster, creates: number, lists: number): Promise<ApiFigures> {
  const local = c.node(LOCAL);
  const cross = c.node(CROSS);
  const res = await local.api('POST', '/v1/apps', { app_name: APP });
  if (res.status !== 201) throw new Error(`create app ${APP}: ${res.status} ${JSON.stringify(res.body)}`);
  const image = await uploadEcho(local, APP, FIXTURE_APP, 'a1');
  const create = async (via: ClusterNode, name: string) => {
    const t0 = performance.now();
    const r = await via.api<{ host: string }>('POST', `/v1/apps/${APP}/machines`, { name, region: 'sjc', config: echoConfig(image) });
    const ms = performance.now() - t0;
    if (r.status !== 201) throw new Error(`create ${name} through ${via.name}: ${r.status} ${JSON.stringify(r.body)}`);
    if (r.body.host !== LOCAL) throw new Error(`machine ${name} went to ${r.body.host}, not ${LOCAL}`);
    return ms;
  };
  const list = async (via: ClusterNode) => {
    const t0 = performance.now();
    const r = await via.api<unknown[]>('GET', `/v1/apps/${APP}/machines`);
    if (r.status !== 200) throw new Error(`list through ${via.name}: ${r.status}`);
    return performance.now() - t0;
  };
  await create(local, 'warm-local');
  await create(cross, 'warm-cross');
  const out: ApiFigures = { local: LOCAL, cross: CROSS, create: { local: [], cross: [] }, list: { local: [], cross: [], machines: 2 + 2 * creates }, checksSeen: await checksSeen(c) };
  for (let i = 0; i < creates; i++) {
    const pair = i % 2 === 0 ? ([local, cross] as const) : ([cross, local] as const);
    for (const via of pair) (via === local ? out.create.local : out.create.cross).push(await create(via, `m${i}-${via.name}`));
  }
  for (let i = 0; i < lists; i++) {
    const pair = i % 2 === 0 ? ([local, cross] as const) : ([cross, local] as const);
    for (const via of pair) (via === local ? out.list.local : out.list.cross).push(await list(via));
  }
  // The app's machines are not needed after this; fewer processes for what follows.
  await local.api('DELETE', `/v1/apps/${APP}?force=true`);
  return out;
}

/** One fleet machine of sjc-1, as sjc-1 and as ams-1 show it. */
async function checksSeen(c: Cluster): Promise<{ owner: string; other: string }> {
  const rows = (await c.node(LOCAL).api<MachineRow[]>('GET', `/v1/apps/${FLEET_APP}/machines`)).body;
  const m = rows.find((x) => x.host === LOCAL);
  if (!m) return { owner: 'no machine', other: 'no machine' };
  const show = async (n: ClusterNode) => {
    const r = await n.api<MachineRow>('GET', `/v1/apps/${FLEET_APP}/machines/${m.id}`);
    return r.body.checks.length ? r.body.checks.map((x) => x.status).join(',') : 'none';
  };
  return { owner: await show(c.node(LOCAL)), other: await show(c.node(CROSS)) };
}

/** p50 of each side and cross/local. */
export function apiRatios(f: ApiFigures) {
  const side = (xs: { local: number[]; cross: number[] }) => ({ local: p(xs.local, 50), cross: p(xs.cross, 50), ratio: p(xs.cross, 50) / p(xs.local, 50) });
  return { create: side(f.create), list: side(f.list) };
}
