import assert from 'node:assert/strict';
import { writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { clusterSupport, startCluster, type ClusterNode } from './cluster/cluster.js';
import { appDir, echoConfig, FIXTURE_APP, inGroup, loadLoop, uploadEcho, waitUntil, WEB_WORKER_TOML } from './helpers.js';
import { launchBrowser, newPage, screenshot } from './support/browser.js';

const support = clusterSupport();
const skip = support.ok ? false : support.reason;

const checks = [{ type: 'http', path: '/health', interval: '100ms', timeout: '1s', grace_period: '0s' }];

test('a cluster of three hosts in two regions: placement, operations on the owner, relayed traffic, health everywhere within 1 s', { skip, timeout: 180_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'fra-1', region: 'fra' },
    { name: 'fra-2', region: 'fra' },
    { name: 'ams-1', region: 'ams' },
  ]);
  const [fra1, fra2, ams1] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];

  // Every node answers the same token and sees the same three hosts.
  assert.equal(fra2.token, fra1.token);
  assert.equal(ams1.token, fra1.token);
  const listed = await ams1.cli(['hosts', 'list', '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const hosts = JSON.parse(listed.stdout) as Array<{ name: string; region: string; state: string; address: string }>;
  assert.deepEqual(hosts.map((h) => [h.name, h.region, h.state]).sort(), [['ams-1', 'ams', 'ready'], ['fra-1', 'fra', 'ready'], ['fra-2', 'fra', 'ready']]);
  assert.equal(hosts.find((h) => h.name === 'fra-2')!.address, fra2.host.address);

  assert.equal((await fra1.api('POST', '/v1/apps', { app_name: 'web' })).status, 201);
  const image = await uploadEcho(fra1, 'web', FIXTURE_APP, 't1');
  const flag = mkdtempSync(join(tmpdir(), 'hangar-cluster-flag-'));
  t.after(() => rmSync(flag, { recursive: true, force: true }));
  const config = (name: string) => echoConfig(image, { env: { MESSAGE: name, HEALTH_FAIL_FILE: join(flag, name) }, services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks }] });

  // Two fra machines asked of the ams node: placed on the fra hosts, one each; fra-2 fetches the image from fra-1.
  const a = await ams1.api('POST', '/v1/apps/web/machines', { name: 'fa', region: 'fra', config: config('fa') });
  assert.equal(a.status, 201, JSON.stringify(a.body));
  const b = await ams1.api('POST', '/v1/apps/web/machines', { name: 'fb', region: 'fra', config: config('fb') });
  assert.equal(b.status, 201, JSON.stringify(b.body));
  assert.deepEqual([a.body.host, b.body.host].sort(), ['fra-1', 'fra-2']);
  assert.equal(a.body.private_ip, a.body.host === 'fra-1' ? fra1.host.address : fra2.host.address);
  const m = await fra1.api('POST', '/v1/apps/web/machines', { name: 'am', region: 'ams', config: config('am') });
  assert.equal(m.status, 201, JSON.stringify(m.body));
  assert.equal(m.body.host, 'ams-1');

  // An image no node can send any more: the machine's host fails it with the reason.
  const lost = await uploadEcho(fra1, 'web', appDir(t, WEB_WORKER_TOML('web'), { 'only-here.txt': String(Date.now()) }), 'lost');
  const lostDigest = ((await fra1.api('GET', '/v1/apps/web/images')).body as Array<{ tag: string; digest: string }>).find((i) => i.tag === 'lost')!.digest;
  rmSync(join(fra1.home, 'images', 'sha256', lostDigest.slice('sha256:'.length)), { recursive: true, force: true });
  const gone = await fra1.api('POST', '/v1/apps/web/machines', { host: 'fra-2', config: { ...config('lost'), image: lost } });
  assert.equal(gone.status, 503, JSON.stringify(gone.body));
  assert.equal(gone.body.code, 'image_unavailable');
  assert.match(gone.body.error, /is not on this host \(fra-2\) and no other node could send it/);

  // A region without a host: one clear error naming the regions that have them.
  const dfw = await fra2.api('POST', '/v1/apps/web/machines', { region: 'dfw', config: config('x') });
  assert.equal(dfw.status, 412);
  assert.equal(dfw.body.code, 'no_host_in_region');
  assert.match(dfw.body.error, /regions with ready hosts: ams, fra/);

  // --host pins: a clone of a fra machine on ams-1 goes to ams-1's region; an unknown host is a clear 404.
  const pinned = await fra2.cli(['machines', 'clone', a.body.id, '--host', 'ams-1', '-a', 'web', '--json']);
  assert.equal(pinned.status, 0, pinned.stderr);
  const clone = JSON.parse(pinned.stdout) as { id: string; host: string; region: string };
  assert.deepEqual([clone.host, clone.region], ['ams-1', 'ams']);
  const nowhere = await fra2.api('POST', '/v1/apps/web/machines', { host: 'nope-9', config: config('x') });
  assert.equal(nowhere.status, 404);
  assert.equal(nowhere.body.code, 'host_not_found');
  assert.equal((await fra2.api('POST', `/v1/apps/web/machines/${clone.id}/stop`, {})).status, 200);
  assert.equal((await fra1.api('DELETE', `/v1/apps/web/machines/${clone.id}`)).status, 200);

  // Each proxy serves the app, its own host's machine first.
  const byName = new Map([a.body, b.body, m.body].map((x: { id: string; name: string; host: string }) => [x.id, x]));
  for (const n of c.nodes) {
    await waitUntil(async () => (await n.get('web')).status === 200, 10_000, `${n.name}'s proxy to serve web`);
    const r = await n.get('web');
    assert.equal(byName.get(r.machine!)?.host, n.name, `${n.name} answered by its own machine`);
  }

  // Another host's machine's checks, as its host runs them, in its JSON through any node.
  await waitUntil(async () => {
    const x = (await ams1.api('GET', `/v1/apps/web/machines/${a.body.id}`)).body as { checks: Array<{ status: string }> };
    return x.checks.length === 1 && x.checks[0]!.status === 'passing';
  }, 5_000, "fa's passing check to show through ams-1");

  // Logs through any node: every host's machines, each line naming its host.
  type L = { machine_id?: string; host?: string; source: string; message: string };
  await waitUntil(async () => {
    const text = (await fra2.api('GET', '/v1/apps/web/logs?limit=1000')).body as string;
    const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as L);
    return [a.body, b.body, m.body].every((x: { id: string; host: string }) => lines.some((l) => l.machine_id === x.id && l.source === 'app' && l.host === x.host));
  }, 10_000, 'logs through fra-2 to show every machine with its host');
  const shown = await fra2.cli(['logs', '--no-tail', '-a', 'web', '--machine', m.body.id]);
  assert.equal(shown.status, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`app\\[${m.body.id}\\] ams/ams-1 \\[info\\]`));

  // Followed through fra-2: a line stored on ams-1 arrives as it happens.
  const follow = new AbortController();
  t.after(() => follow.abort());
  const stream = await fetch(`${fra2.url}/v1/apps/web/logs?follow=true&limit=0&source=runner`, { headers: { authorization: `Bearer ${fra2.token}` }, signal: follow.signal });
  const reader = stream.body!.getReader();
  let buffered = '';
  const live = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return undefined;
      buffered += Buffer.from(value).toString();
      const hit = buffered.split('\n').filter(Boolean).map((l) => JSON.parse(l) as L).find((l) => l.machine_id === m.body.id && l.host === 'ams-1');
      if (hit) return hit;
    }
  })();

  // The ams machine stopped through a fra node (carried out on ams-1): ams-1's proxy relays to fra.
  const stopped = await fra2.api('POST', `/v1/apps/web/machines/${m.body.id}/stop`, {});
  assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
  const st = await ams1.api('GET', `/v1/apps/web/machines/${m.body.id}`);
  assert.equal(st.body.state, 'stopped');
  const line = await Promise.race([live, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
  assert.ok(line, "the stop's runner line reached the follower on fra-2");
  follow.abort();
  let lastSeen: unknown;
  await waitUntil(async () => {
    const r = await ams1.get('web');
    lastSeen = r;
    return r.status === 200 && byName.get(r.machine!)?.host !== 'ams-1';
  }, 5_000, 'ams-1 to relay to a fra machine').catch((err) => {
    throw new Error(`${(err as Error).message}; last answer: ${JSON.stringify(lastSeen)}`);
  });
  for (let i = 0; i < 20; i++) {
    const r = await ams1.get('web');
    assert.equal(r.status, 200);
    assert.ok(['fra-1', 'fra-2'].includes(byName.get(r.machine!)!.host));
  }

  // fa fails its check on its own host: every proxy stops sending it traffic within 1 s of its host.
  const fa = a.body as { id: string; host: string };
  const owner = c.node(fa.host);
  const seen = (n: ClusterNode) => async () => {
    for (let i = 0; i < 10; i++) {
      const r = await n.get('web');
      if (r.machine === fa.id) return false;
    }
    return true;
  };
  writeFileSync(join(flag, 'fa'), '');
  const t0 = Date.now();
  await waitUntil(async () => (await owner.api('GET', `/v1/apps/web/machines/${fa.id}`)).body.checks.some((x: { status: string }) => x.status !== 'passing'), 5_000, 'the owner to see the check fail');
  const tOwner = Date.now();
  for (const n of c.nodes) await waitUntil(seen(n), 3_000, `${n.name} to stop routing to ${fa.id}`);
  const lag = Date.now() - tOwner;
  t.diagnostic(`check failed on ${fa.host} after ${tOwner - t0} ms; every proxy off it ${lag} ms later`);
  assert.ok(lag < 1000, `routing converged in ${lag} ms`);
  for (const n of c.nodes) assert.equal(n.proc.exitCode, null, `node ${n.name} is still running:\n${n.output()}`);
});

test('a rolling deploy across hosts under load through a host with no machine of the app: zero failed requests; --regions touches only that region', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'ams-1', region: 'ams' },
    { name: 'ams-2', region: 'ams' },
    { name: 'fra-1', region: 'fra' },
  ]);
  const [ams1, ams2, fra1] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const dir = appDir(t, WEB_WORKER_TOML('roll'));
  const first = await ams2.cli(['deploy', dir]);
  assert.equal(first.status, 0, first.stderr + first.stdout);
  const scaled = await ams1.cli(['scale', 'count', '3', '--process-group', 'web', '-a', 'roll']);
  assert.equal(scaled.status, 0, scaled.stderr + scaled.stdout);
  const fraScaled = await fra1.cli(['scale', 'count', '1', '--region', 'fra', '--process-group', 'web', '-a', 'roll']);
  assert.equal(fraScaled.status, 0, fraScaled.stderr + fraScaled.stdout);
  type M = { id: string; host: string; region: string; process_group: string; config: { env: Record<string, string> } };
  const list = async () => (await fra1.api<M[]>('GET', '/v1/apps/roll/machines')).body;
  const web = inGroup(await list(), 'web');
  assert.equal(web.filter((m) => m.region === 'ams').length, 3);
  assert.deepEqual([...new Set(web.filter((m) => m.region === 'ams').map((m) => m.host))].sort(), ['ams-1', 'ams-2'], 'the group is spread over both ams hosts');
  assert.equal(web.filter((m) => m.region === 'fra').length, 1);

  // Load through ams-1 (local machines) and through fra-1 after its machine is stopped (everything relayed).
  const fraMachine = web.find((m) => m.region === 'fra')!;
  assert.equal((await ams1.api('POST', `/v1/apps/roll/machines/${fraMachine.id}/stop`, {})).status, 200);
  await waitUntil(async () => (await fra1.get('roll')).status === 200, 10_000, 'fra-1 to relay');
  const loads = [loadLoop(ams1, 'roll.localhost', { maxMs: 120_000 }), loadLoop(fra1, 'roll.localhost', { maxMs: 120_000 })];
  const rolled = await ams1.cli(['deploy', dir, '-e', 'MESSAGE=v2', '--regions', 'ams']);
  const results = await Promise.all(loads.map((l) => l.stop()));
  assert.equal(rolled.status, 0, rolled.stderr + rolled.stdout);
  for (const r of results) {
    t.diagnostic(`load: ${JSON.stringify(r.counts)} ${JSON.stringify(r.bodies)}`);
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.counts)}`);
    assert.ok(r.ok > 50, `${r.ok} requests served`);
  }
  const after = inGroup(await list(), 'web');
  assert.ok(after.filter((m) => m.region === 'ams').every((m) => m.config.env.MESSAGE === 'v2'), 'every ams machine updated');
  assert.equal(after.find((m) => m.id === fraMachine.id)!.config.env.MESSAGE, 'v1', '--regions ams left the fra machine alone');
});

test('a host whose node dies is down within --host-down-after, traffic leaves it, and the node back re-adopts exactly its machines', { skip, timeout: 180_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'h-1', region: 'fra' },
    { name: 'h-2', region: 'fra' },
    { name: 'h-3', region: 'fra' },
  ]);
  const [h1, h2, h3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  assert.equal((await h1.api('POST', '/v1/apps', { app_name: 'hd' })).status, 201);
  const image = await uploadEcho(h1, 'hd', FIXTURE_APP, 't1');
  const made = [];
  for (const name of ['x1', 'x2']) {
    const r = await h2.api('POST', '/v1/apps/hd/machines', { name, region: 'fra', config: echoConfig(image, { services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks }] }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    made.push(r.body as { id: string; host: string });
  }
  const onH2 = made.find((m) => m.host === 'h-2')!;
  const onH1 = made.find((m) => m.host === 'h-1')!;
  assert.ok(onH1 && onH2, 'one machine per host, h-3 has none');
  // h-3 has no machine of the app: all its traffic is relayed, to both.
  await waitUntil(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await h3.get('hd')).machine ?? '');
    return seen.has(onH1.id) && seen.has(onH2.id);
  }, 10_000, 'h-3 to relay to both hosts');

  // h-2's node is killed; its machine keeps running, but nobody can reach it through hangar now.
  await h2.kill9();
  const t0 = Date.now();
  // Before h-2 is judged down, its node's refusals already take it out: no request fails meanwhile.
  for (let i = 0; i < 20; i++) {
    const r = await h3.get('hd');
    assert.equal(r.status, 200, 'served while h-2 is not yet down');
    assert.equal(r.machine, onH1.id);
  }
  assert.ok(Date.now() - t0 < 2000, 'those requests ran before --host-down-after passed');
  await waitUntil(async () => (await h1.api('GET', '/v1/hosts')).body.find((h: { name: string }) => h.name === 'h-2')?.state === 'down', 10_000, 'h-2 to be down');
  t.diagnostic(`h-2 down after ${Date.now() - t0} ms`);
  const m2 = (await h1.api('GET', `/v1/apps/hd/machines/${onH2.id}`)).body;
  assert.equal(m2.host_status, 'unreachable');
  for (let i = 0; i < 20; i++) {
    const r = await h3.get('hd');
    assert.equal(r.status, 200);
    assert.equal(r.machine, onH1.id);
  }
  const refused = await h1.api('POST', `/v1/apps/hd/machines/${onH2.id}/stop`, {});
  assert.equal(refused.status, 503);
  assert.equal(refused.body.code, 'host_down');

  // Back: the same host, the same two machines, the one on h-2 adopted (same instance), routed again.
  const before = (await h1.api('GET', `/v1/apps/hd/machines/${onH2.id}`)).body.instance_id;
  await h2.start();
  await waitUntil(async () => (await h1.api('GET', '/v1/hosts')).body.every((h: { state: string }) => h.state === 'ready'), 10_000, 'both hosts ready');
  const hostsNow = (await h2.api('GET', '/v1/hosts')).body;
  assert.equal(hostsNow.length, 3, 'no second entry for h-2');
  const all = (await h2.api('GET', '/v1/apps/hd/machines')).body as Array<{ id: string; state: string; instance_id: string; host_status: string }>;
  assert.deepEqual(all.map((m) => m.id).sort(), made.map((m) => m.id).sort());
  const back = all.find((m) => m.id === onH2.id)!;
  assert.equal(back.state, 'started');
  assert.equal(back.instance_id, before, 'adopted, not started again');
  await waitUntil(async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await h3.get('hd')).machine ?? '');
    return seen.has(onH2.id);
  }, 5_000, "h-2's machine to take traffic again");
});

test("the deploy's node killed mid-deploy: another node takes it over from its persisted phase and finishes it, watched through any node, under load", { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'w-1', region: 'ams' },
    { name: 'w-2', region: 'ams' },
    { name: 'r-1', region: 'fra' },
  ]);
  const [w1, w2, r1] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const dir = appDir(t, WEB_WORKER_TOML('tko'));
  assert.equal((await w1.cli(['deploy', dir])).status, 0);
  assert.equal((await w1.cli(['scale', 'count', '4', '--process-group', 'web', '-a', 'tko'])).status, 0);
  type M = { id: string; host: string; process_group: string; config: { env: Record<string, string> } };
  const web = inGroup((await w1.api<M[]>('GET', '/v1/apps/tko/machines')).body, 'web');
  assert.equal(web.length, 4);
  assert.ok(web.every((m) => m.host !== 'r-1'), 'no machine of the app on the node that will run the deploy');

  const load = loadLoop(w2, 'tko.localhost', { maxMs: 120_000 });
  // Deployed through r-1, so r-1 runs it; killed as soon as the first machine is updated.
  const r = await r1.cli(['deploy', dir, '-e', 'MESSAGE=v2', '--max-unavailable', '1', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const id = JSON.parse(r.stdout).id as string;
  const events = async () => ((await w1.api('GET', `/v1/deployments/${id}/events`)).body as string).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: { type: string; outcome?: string; message?: string } });
  await waitUntil(async () => (await events()).some((e) => e.event.type === 'machine' && e.event.outcome === 'updated'), 60_000, 'a first machine updated');
  await r1.kill9();
  const killedAt = Date.now();
  const watch = await w2.cli(['deployments', 'watch', id]);
  const stats = await load.stop();
  assert.equal(watch.status, 0, watch.stdout + watch.stderr);
  assert.match(watch.stdout, /release v2 deployed/);
  const took = (await events()).find((e) => /took it over/.test(e.event.message ?? ''));
  assert.ok(took, 'the takeover is in the deploy events');
  t.diagnostic(`deploy finished ${Date.now() - killedAt} ms after its node was killed; load ${JSON.stringify(stats.counts)}`);
  const d = (await w1.api('GET', `/v1/deployments/${id}`)).body as { status: string };
  assert.equal(d.status, 'complete');
  const after = inGroup((await w2.api<M[]>('GET', '/v1/apps/tko/machines')).body, 'web');
  assert.equal(after.length, 4, 'no machine lost or added');
  assert.ok(after.every((m) => m.config.env.MESSAGE === 'v2'));
  assert.equal(stats.failed, 0, JSON.stringify(stats.counts));
});

test('hosts drain --migrate moves a host\'s machines to the region\'s other hosts one at a time under load, with zero failed requests', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'd-1', region: 'ams' },
    { name: 'd-2', region: 'ams' },
    { name: 'd-3', region: 'ams' },
  ]);
  const [d1, d2, d3] = c.nodes as [ClusterNode, ClusterNode, ClusterNode];
  const dir = appDir(t, WEB_WORKER_TOML('mig'));
  assert.equal((await d1.cli(['deploy', dir])).status, 0);
  assert.equal((await d1.cli(['scale', 'count', '3', '--process-group', 'web', '-a', 'mig'])).status, 0);
  type M = { id: string; host: string; process_group: string };
  const before = (await d1.api<M[]>('GET', '/v1/apps/mig/machines')).body;
  assert.deepEqual(inGroup(before, 'web').map((m) => m.host).sort(), ['d-1', 'd-2', 'd-3'], 'one web machine per host');
  const onD2 = before.filter((m) => m.host === 'd-2');

  const loads = [loadLoop(d1, 'mig.localhost', { maxMs: 120_000 }), loadLoop(d3, 'mig.localhost', { maxMs: 120_000 })];
  const drained = await d3.cli(['hosts', 'drain', 'd-2', '--migrate', '--json']);
  const results = await Promise.all(loads.map((l) => l.stop()));
  assert.equal(drained.status, 0, drained.stderr + drained.stdout);
  const r = JSON.parse(drained.stdout) as { host: { state: string; machines: number }; migrated: Array<{ machine: string; host: string }> };
  assert.equal(r.host.state, 'draining');
  assert.equal(r.host.machines, 0);
  assert.deepEqual(r.migrated.map((x) => x.machine).sort(), onD2.map((m) => m.id).sort());
  assert.ok(r.migrated.every((x) => x.host !== 'd-2'));
  for (const x of results) {
    t.diagnostic(`load: ${JSON.stringify(x.counts)}`);
    assert.equal(x.failed, 0, JSON.stringify(x.counts));
  }
  const after = (await d2.api<M[]>('GET', '/v1/apps/mig/machines')).body;
  assert.equal(after.length, before.length, 'as many machines as before');
  assert.ok(after.every((m) => m.host !== 'd-2'));
  // Nothing new goes to a draining host.
  const placed = await d1.api('POST', '/v1/apps/mig/machines', { region: 'ams', config: (await d1.api('GET', `/v1/apps/mig/machines/${after[0]!.id}`)).body.config });
  assert.equal(placed.status, 201);
  assert.notEqual(placed.body.host, 'd-2');
});

test('a host cut off mid-deploy: its machines fail with the reason, the deploy ends instead of hanging, and traffic leaves the host', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'a-1', region: 'ams' },
    { name: 'a-2', region: 'ams' },
  ]);
  const [a1] = c.nodes as [ClusterNode, ClusterNode];
  const dir = appDir(t, WEB_WORKER_TOML('cut'));
  assert.equal((await a1.cli(['deploy', dir])).status, 0);
  assert.equal((await a1.cli(['scale', 'count', '4', '--process-group', 'web', '-a', 'cut'])).status, 0);
  type M = { id: string; host: string; process_group: string; host_status: string };
  const web = inGroup((await a1.api<M[]>('GET', '/v1/apps/cut/machines')).body, 'web');
  assert.deepEqual(web.map((m) => m.host).sort(), ['a-1', 'a-1', 'a-2', 'a-2']);

  const r = await a1.cli(['deploy', dir, '-e', 'MESSAGE=v2', '--max-unavailable', '1', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const id = JSON.parse(r.stdout).id as string;
  const events = async () => ((await a1.api('GET', `/v1/deployments/${id}/events`)).body as string).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: { type: string; outcome?: string; message?: string; status?: string } });
  await waitUntil(async () => (await events()).some((e) => e.event.type === 'machine' && e.event.outcome === 'updated'), 60_000, 'a first machine updated');
  c.net.isolate('a-2');
  const cutAt = Date.now();
  await waitUntil(async () => (await a1.api('GET', `/v1/deployments/${id}`)).body.status !== 'running', 60_000, 'the deploy to end');
  t.diagnostic(`deploy ended ${Date.now() - cutAt} ms after a-2 was cut off`);
  const all = await events();
  const done = all.find((e) => e.event.type === 'done');
  assert.ok(done && done.event.status !== 'complete', `the deploy did not claim success: ${JSON.stringify(done)}`);
  assert.ok(all.some((e) => /a-2/.test(e.event.message ?? '') && /down|does not answer/.test(e.event.message ?? '')), `a machine failed naming the host: ${JSON.stringify(all.map((e) => e.event.message))}`);
  const now = (await a1.api<M[]>('GET', '/v1/apps/cut/machines')).body;
  assert.ok(inGroup(now, 'web').filter((m) => m.host === 'a-2').every((m) => m.host_status === 'unreachable'));
  for (let i = 0; i < 20; i++) {
    const g = await a1.get('cut');
    assert.equal(g.status, 200);
    assert.ok(web.some((m) => m.id === g.machine && m.host === 'a-1'), 'answered on a-1');
  }
  c.net.reconnect('a-2');
});

test('the database restarted mid-deploy: operations pause, then the deploy completes, with zero failed requests', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'p-1', region: 'ams' },
    { name: 'p-2', region: 'ams' },
  ]);
  const [p1, p2] = c.nodes as [ClusterNode, ClusterNode];
  const dir = appDir(t, WEB_WORKER_TOML('dbr'));
  assert.equal((await p1.cli(['deploy', dir])).status, 0);
  assert.equal((await p1.cli(['scale', 'count', '4', '--process-group', 'web', '-a', 'dbr'])).status, 0);
  const load = loadLoop(p2, 'dbr.localhost', { maxMs: 120_000 });
  const r = await p1.cli(['deploy', dir, '-e', 'MESSAGE=v2', '--max-unavailable', '1', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const id = JSON.parse(r.stdout).id as string;
  await waitUntil(async () => /"outcome":"updated"/.test((await p1.api('GET', `/v1/deployments/${id}/events`)).body as string), 60_000, 'a first machine updated');
  await c.pg.stop();
  const stoppedAt = Date.now();
  await waitUntil(() => Date.now() - stoppedAt > 3000, 5000, 'three seconds without the database');
  await c.pg.start();
  t.diagnostic('database back after 3 s');
  await waitUntil(async () => (await p1.api('GET', `/v1/deployments/${id}`)).body.status !== 'running', 120_000, 'the deploy to end');
  const stats = await load.stop();
  const d = (await p2.api('GET', `/v1/deployments/${id}`)).body as { status: string; error?: string };
  assert.equal(d.status, 'complete', JSON.stringify(d));
  t.diagnostic(`load: ${JSON.stringify(stats.counts)}`);
  assert.equal(stats.failed, 0, JSON.stringify(stats.counts));
  type M = { process_group: string; config: { env: Record<string, string> } };
  assert.ok(inGroup((await p2.api<M[]>('GET', '/v1/apps/dbr/machines')).body, 'web').every((m) => m.config.env.MESSAGE === 'v2'));
  assert.ok(((await p1.api('GET', '/v1/hosts')).body as Array<{ state: string }>).every((h) => h.state === 'ready'));
});

test('controls of a deploy another node runs (pause, resume) work through any node, and its watch follows to the end', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'c-1', region: 'ams' },
    { name: 'c-2', region: 'ams' },
  ]);
  const [c1, c2] = c.nodes as [ClusterNode, ClusterNode];
  const canary = '\n[deploy.canary]\ncount = 1\nsteps = [20, 60]\nstep_interval = "600ms"\nmax_error_rate = 0.5\nmin_requests = 1000\n';
  const dir = appDir(t, WEB_WORKER_TOML('ctl', canary));
  assert.equal((await c1.cli(['deploy', dir])).status, 0);
  const r = await c1.cli(['deploy', dir, '--strategy', 'canary', '-e', 'MESSAGE=canary', '--detach', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  const dep = async () => (await c2.api('GET', `/v1/deployments/${id}`)).body as { status: string; paused: boolean; extra: { weight?: number } };
  await waitUntil(async () => (await dep()).extra.weight === 20, 30_000, 'step 1');
  const paused = await c2.cli(['deployments', 'pause', id]);
  assert.equal(paused.status, 0, paused.stderr);
  assert.equal((await dep()).paused, true);
  assert.match((await c1.api('GET', `/v1/deployments/${id}/events`)).body as string, /pause requested/, 'the node running it got the control');
  const resumed = await c2.cli(['deployments', 'resume', id]);
  assert.equal(resumed.status, 0, resumed.stderr);
  const watched = await c2.cli(['deployments', 'watch', id]);
  assert.equal(watched.status, 0, watched.stdout + watched.stderr);
  assert.match(watched.stdout, /release v2 deployed/);
  assert.equal((await dep()).status, 'complete');
});


test('a canary run by one node is judged on the traffic entering every node: a bad canary behind another node is aborted, and metrics through any node count it', { skip, timeout: 300_000 }, async (t) => {
  const c = await startCluster(t, [
    { name: 'k-1', region: 'ams' },
    { name: 'k-2', region: 'ams' },
  ]);
  const [k1, k2] = c.nodes as [ClusterNode, ClusterNode];
  const canary = '\n[deploy.canary]\ncount = 1\nsteps = [50]\nstep_interval = "60s"\nmax_error_rate = 0.05\nmin_requests = 20\n';
  const dir = appDir(t, WEB_WORKER_TOML('judge', canary));
  assert.equal((await k1.cli(['deploy', dir])).status, 0);
  // Every request enters through k-2; the deploy runs on k-1, which sees none of them itself.
  const load = loadLoop(k2, 'judge.localhost', { maxMs: 120_000 });
  await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 20_000, 'load through k-2');
  const r = await k1.cli(['deploy', dir, '--strategy', 'canary', '-e', 'FAIL_RATE=0.5', '-e', 'MESSAGE=canary']);
  const res = await load.stop();
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /canary abort at step 1 \(50%\): error rate \d+\.\d% > max_error_rate 5\.0%/);
  const dep = (await k1.api<Array<{ extra: { decision: { canary: { requests: number } } } }>>('GET', '/v1/apps/judge/deployments')).body[0]!;
  assert.ok(dep.extra.decision.canary.requests >= 20, `the decision counted ${dep.extra.decision.canary.requests} canary requests`);
  const m = (await k1.api<{ requests: number }>('GET', '/v1/apps/judge/metrics?window=2m')).body;
  const served = res.ok + res.failed;
  assert.ok(m.requests >= served * 0.9 && m.requests <= served + 5, `k-1 reports ${m.requests} requests of the ${served} sent through k-2`);
});

/** Two hosts in fra, an app with the echo image, and a machine config for it (its service plus `service`). */
async function twoFraHosts(t: { after(fn: () => unknown): void }, app: string, service: Record<string, unknown> = {}) {
  const c = await startCluster(t, [
    { name: 'fra-1', region: 'fra' },
    { name: 'fra-2', region: 'fra' },
  ]);
  const [fra1, fra2] = c.nodes as [ClusterNode, ClusterNode];
  assert.equal((await fra1.api('POST', '/v1/apps', { app_name: app })).status, 201);
  const image = await uploadEcho(fra1, app, FIXTURE_APP, 't1');
  const config = echoConfig(image, { services: [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], checks, ...service }] });
  return { fra1, fra2, config };
}

test("any node's dashboard shows every host's machines, grouped by host, with a login code another node made", { skip, timeout: 120_000 }, async (t) => {
  const { fra1, fra2, config } = await twoFraHosts(t, 'web');
  const placed = [];
  for (const name of ['da', 'db']) placed.push((await fra1.api('POST', '/v1/apps/web/machines', { name, region: 'fra', config })).body as { id: string; host: string });
  assert.deepEqual(placed.map((m) => m.host).sort(), ['fra-1', 'fra-2']);
  // The code is fra-1's; the browser signs in on fra-2 (codes and sessions live in the shared state).
  const code = (await fra1.api('POST', '/v1/dashboard/codes')).body as { path: string };
  const browser = await launchBrowser(t);
  const { page, errors } = await newPage(browser);
  await page.goto(fra2.url + code.path);
  await page.getByRole('heading', { name: 'Apps' }).waitFor({ timeout: 10_000 });
  await page.goto(`${fra2.url}/apps/web`);
  for (const m of placed) await page.locator(`[data-machine="${m.id}"]`).waitFor({ timeout: 10_000 });
  const groups = await page.getByTestId('machines').locator('h3').allInnerTexts();
  assert.deepEqual(groups.map((g) => g.replace(/\s+\(\d+\)$/, '')).sort(), ['app · fra · fra-1', 'app · fra · fra-2']);
  await screenshot(page, 'cluster-app');
  assert.deepEqual(errors, []);
});

test("a machine's hard limit holds for the whole cluster: its own node counts the requests every node sends it", { skip, timeout: 120_000 }, async (t) => {
  const { fra1, fra2, config } = await twoFraHosts(t, 'lim', { concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } });
  const m = (await fra1.api('POST', '/v1/apps/lim/machines', { host: 'fra-1', config })).body as { id: string };
  assert.equal((await fra1.api('PATCH', '/v1/apps/lim/routing', { hold_timeout: '300ms' })).status, 200);
  await waitUntil(async () => (await fra2.get('lim')).status === 200, 10_000, 'the machine reachable through fra-2');
  // One slow request through fra-1 takes the machine's one place ...
  const slow = fra1.get('lim', '/slow?ms=2000');
  await waitUntil(async () => (await fra1.api('GET', `/v1/apps/lim/machines/${m.id}`)).body.inflight === 1, 5000, 'the slow request on the machine');
  // ... so a request through fra-2, which has sent it nothing, is held and then refused, not let in.
  const t0 = Date.now();
  const second = await fra2.get('lim');
  assert.equal(second.status, 503, second.text);
  assert.ok(Date.now() - t0 < 1800, 'refused before the slow request ended');
  assert.equal((await slow).status, 200);
  assert.equal((await fra2.get('lim')).status, 200, 'with the place free again, fra-2 gets in');

  // With a longer hold window, fra-2's request waits for the place and is served once it is free.
  assert.equal((await fra1.api('PATCH', '/v1/apps/lim/routing', { hold_timeout: '5s' })).status, 200);
  let slowDone = 0;
  const slow2 = fra1.get('lim', '/slow?ms=1000').then((r) => ((slowDone = Date.now()), r));
  await waitUntil(async () => (await fra1.api('GET', `/v1/apps/lim/machines/${m.id}`)).body.inflight === 1, 5000, 'the second slow request on the machine');
  const waited = await fra2.get('lim');
  const waitedDone = Date.now();
  assert.equal(waited.status, 200, waited.text);
  assert.equal((await slow2).status, 200);
  assert.ok(slowDone > 0 && waitedDone >= slowDone, 'served only after the slow request left');
});
