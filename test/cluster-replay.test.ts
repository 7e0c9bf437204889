import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { clusterSupport, PROXY_PORT, startCluster, type ClusterNode } from './cluster/cluster.js';
import { echoConfig, ROOT, uploadEcho, waitUntil } from './helpers.js';
import { replayPath, sendReplay, type ReplayAnswer } from './support/replay-client.js';

const support = clusterSupport();
const skip = support.ok ? false : support.reason;
const REPLAY_APP = join(ROOT, 'test', 'fixtures', 'replay-app');

/** One request through a node's proxy for app `rp`; never throws (status 0 on a connection error). */
function via(n: ClusterNode, path: string, o: { headers?: Record<string, string>; method?: string; body?: Buffer } = {}): Promise<ReplayAnswer> {
  const t0 = Date.now();
  return sendReplay({ host: n.host.address, port: PROXY_PORT }, 'rp', path, { ...o, timeoutMs: 20_000 }).catch(() => ({ status: 0, text: '', ms: Date.now() - t0 }));
}

const q = replayPath;

test('across hosts: fly-force-instance-id and fly-replay region=/instance= reach a machine on another host through the relay', { skip, timeout: 240_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'fra-1', region: 'fra' },
    { name: 'fra-2', region: 'fra' },
    { name: 'ams-1', region: 'ams' },
  ]);
  const ams1 = c.node('ams-1');
  assert.equal((await ams1.api('POST', '/v1/apps', { app_name: 'rp' })).status, 201);
  const image = await uploadEcho(ams1, 'rp', REPLAY_APP, 't1');
  const make = async (region: string) => {
    const r = await ams1.api('POST', '/v1/apps/rp/machines', { region, config: echoConfig(image, { env: {} }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body as { id: string; host: string };
  };
  const am = await make('ams');
  const fr = await make('fra');
  assert.equal(am.host, 'ams-1');
  const fraHost = c.node(fr.host);
  // The fra host without a machine of the app: everything it serves is relayed.
  const bare = c.nodes.find((n) => n.region === 'fra' && n.name !== fr.host)!;
  const forced = (id: string) => ({ 'fly-force-instance-id': id });
  for (const n of c.nodes) for (const m of [am, fr]) await waitUntil(async () => (await via(n, '/', { headers: forced(m.id) })).machine === m.id, 15_000, `${n.name} to route to ${m.id}`);

  // Forced: ams-1 would answer with its own machine; the header takes the request to fra's, on another host.
  for (let i = 0; i < 10; i++) {
    assert.equal((await via(ams1, '/')).machine, am.id, 'unforced, the own host first');
    const r = await via(ams1, '/', { headers: forced(fr.id) });
    assert.equal(r.status, 200);
    assert.equal(r.json!.machine, fr.id);
    assert.equal((await via(bare, '/', { headers: { 'hangar-force-instance-id': am.id } })).machine, am.id);
  }
  const unknown = await via(bare, '/', { headers: forced('nope') });
  assert.equal(unknown.status, 404);

  // region=: ams-1's machine asks for fra; ams-1 replays it to the fra host's machine.
  const r1 = await via(ams1, q('region=fra', '&replay-in=ams'));
  assert.equal(r1.status, 200);
  assert.equal(r1.machine, fr.id);
  assert.match(r1.json!.replaySrc!, new RegExp(`^instance=${am.id};region=ams;t=\\d+$`));
  // instance=: the fra machine asks for the ams one, from its own host's proxy.
  const r2 = await via(fraHost, q(`instance=${am.id}`, `&replay-on=${fr.id}`));
  assert.equal(r2.machine, am.id);
  assert.match(r2.json!.replaySrc!, new RegExp(`^instance=${fr.id};region=fra;`));
  // Both hops relayed: the bare host sends a POST to ams-1's machine, whose fly-replay comes back through
  // the relay; the bare host replays the body to the fra host's machine.
  const body = randomBytes(300_000);
  const r3 = await via(bare, q('region=fra', '&replay-in=ams'), { method: 'POST', body, headers: { 'fly-prefer-region': 'ams' } });
  assert.equal(r3.status, 200, r3.text);
  assert.equal(r3.machine, fr.id);
  assert.deepEqual([r3.json!.bodyBytes, r3.json!.bodySha], [body.length, createHash('sha256').update(body).digest('hex')]);
  assert.match(r3.json!.replaySrc!, new RegExp(`^instance=${am.id};region=ams;`));

  // A forced machine on another host that is stopped: the request holds until it is back, else a 503
  // after the hold window, never another machine.
  assert.equal((await ams1.api('POST', `/v1/apps/rp/machines/${fr.id}/stop`, {})).status, 200);
  await waitUntil(async () => (await via(bare, '/')).machine === am.id, 5_000, 'the stopped machine out of rotation');
  const r4 = await via(ams1, '/', { headers: forced(fr.id) });
  assert.equal(r4.status, 503);
  assert.equal(r4.machine, undefined);
  assert.match(r4.text, new RegExp(`machine ${fr.id} of app rp is not routable \\(waited 5000 ms\\)`));
  const held = via(ams1, '/', { headers: forced(fr.id) });
  assert.equal((await ams1.api('POST', `/v1/apps/rp/machines/${fr.id}/start`)).status, 200);
  const back = await held;
  assert.equal(back.status, 200);
  assert.equal(back.machine, fr.id);
  t.diagnostic(`forced request held ${back.ms} ms while the machine on ${fr.host} started`);
});
