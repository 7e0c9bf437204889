import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { echoConfig, ROOT, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';
import { replayPath, sendReplay, type ReplayAnswer } from './support/replay-client.js';

// The proxy's behaviour is tested against the proxy as it runs by default: in worker processes.
process.env.HANGAR_PROXY_WORKERS ??= '2';

const REPLAY_APP = join(ROOT, 'test', 'fixtures', 'replay-app');

/** One request through the daemon's proxy to `app`. */
function send(d: TestDaemon, app: string, path: string, o: Parameters<typeof sendReplay>[3] = {}): Promise<ReplayAnswer> {
  const u = new URL(d.proxyUrl);
  return sendReplay({ host: u.hostname, port: u.port }, app, path, o);
}

const q = replayPath;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('request steering: fly-force-instance-id and fly-replay (region, instance, app, bodies, hop limit) on one host', { timeout: 180_000 }, async (t) => {
  const d = await startDaemon(t);
  for (const app of ['rp', 'other']) assert.equal((await d.api('POST', '/v1/apps', { app_name: app })).status, 201);
  const image = await uploadEcho(d, 'rp', REPLAY_APP);
  const otherImage = await uploadEcho(d, 'other', REPLAY_APP);
  const make = async (app: string, img: string, region: string) => {
    const r = await d.api('POST', `/v1/apps/${app}/machines`, { region, config: echoConfig(img, { env: {} }) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id as string;
  };
  const A = await make('rp', image, 'ams');
  const B = await make('rp', image, 'fra');
  const O = await make('other', otherImage, 'ams');
  const routable = async (app: string, id: string) => (await send(d, app, '/', { headers: { 'fly-force-instance-id': id } })).machine === id;
  for (const [app, id] of [['rp', A], ['rp', B], ['other', O]] as const) await waitUntil(() => routable(app, id), 15_000, `machine ${id} routable`);
  const hold = (ms: string) => d.api('PATCH', '/v1/apps/rp/routing', { hold_timeout: ms });

  await t.test('normal requests are balanced as before and a client cannot forge fly-replay-src', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await send(d, 'rp', '/', { headers: { 'fly-replay-src': 'instance=forged' } });
      assert.equal(r.status, 200);
      assert.equal(r.json!.replaySrc, null);
      seen.add(r.machine!);
    }
    assert.deepEqual([...seen].sort(), [A, B].sort());
  });

  await t.test('fly-force-instance-id: exactly that machine, over the region preference; passed on to the machine', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await send(d, 'rp', '/', { headers: { 'fly-force-instance-id': B, 'fly-prefer-region': 'ams' } });
      assert.equal(r.machine, B);
      assert.equal(r.json!.machine, B);
      assert.equal(r.json!.forced, B);
      assert.equal((await send(d, 'rp', '/', { headers: { 'hangar-force-instance-id': A } })).machine, A);
    }
  });

  await t.test('fly-force-instance-id naming no machine of the app: 404 with a clear body', async () => {
    const r = await send(d, 'rp', '/', { headers: { 'fly-force-instance-id': 'nope' } });
    assert.equal(r.status, 404);
    assert.equal(r.text, 'hangar proxy: app rp has no machine nope (fly-force-instance-id)\n');
    const other = await send(d, 'rp', '/', { headers: { 'fly-force-instance-id': O } });
    assert.equal(other.status, 404, "another app's machine is not one of this app's");
  });

  await t.test('a forced machine that is stopped: the request holds until it is back, or gets a 503 after the hold window', async () => {
    assert.equal((await hold('20s')).status, 200);
    assert.equal((await d.api('POST', `/v1/apps/rp/machines/${B}/stop`, {})).status, 200);
    const held = send(d, 'rp', '/', { headers: { 'fly-force-instance-id': B } });
    assert.equal((await d.api('POST', `/v1/apps/rp/machines/${B}/start`)).status, 200);
    const back = await held;
    assert.equal(back.status, 200);
    assert.equal(back.machine, B);

    assert.equal((await hold('300ms')).status, 200);
    assert.equal((await d.api('POST', `/v1/apps/rp/machines/${B}/stop`, {})).status, 200);
    const r = await send(d, 'rp', '/', { headers: { 'fly-force-instance-id': B } });
    assert.equal(r.status, 503);
    assert.equal(r.machine, undefined, 'not sent to another machine');
    assert.match(r.text, new RegExp(`^hangar proxy: machine ${B} of app rp is not routable \\(waited 300 ms\\); a request for it \\(fly-force-instance-id\\) goes to no other machine\\n$`));
    assert.ok(r.ms >= 280, `held ${r.ms} ms`);
    assert.equal((await send(d, 'rp', '/')).machine, A, 'unforced requests still served');
    assert.equal((await d.api('POST', `/v1/apps/rp/machines/${B}/start`)).status, 200);
    await waitUntil(() => routable('rp', B), 15_000, 'B routable again');
  });

  await t.test('fly-replay region=: replayed to that region with fly-replay-src; the replay target answers', async () => {
    const before = Date.now() * 1000;
    for (let i = 0; i < 5; i++) {
      const r = await send(d, 'rp', q('region=fra', '&replay-in=ams'), { headers: { 'fly-prefer-region': 'ams' } });
      assert.equal(r.status, 200);
      assert.equal(r.machine, B);
      assert.equal(r.json!.machine, B);
      const m = new RegExp(`^instance=${A};region=ams;t=(\\d+)$`).exec(r.json!.replaySrc ?? '');
      assert.ok(m, `fly-replay-src: ${r.json!.replaySrc}`);
      assert.ok(Number(m[1]) >= before && Number(m[1]) <= Date.now() * 1000, 'microseconds since the epoch');
    }
    const s = await send(d, 'rp', q('region=fra;state=from-a', '&replay-in=ams'), { headers: { 'fly-prefer-region': 'ams' } });
    assert.match(s.json!.replaySrc!, new RegExp(`^instance=${A};region=ams;t=\\d+;state=from-a$`));
    const none = await send(d, 'rp', q('region=syd'));
    assert.equal(none.status, 503);
    assert.match(none.text, /^hangar proxy: app rp has no healthy machine in region syd \(waited 300 ms\) for a replayed request \(fly-replay\)\n$/);
  });

  await t.test('fly-replay instance= and elsewhere=true: that machine, or any but the asker', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await send(d, 'rp', q(`instance=${A}`, `&replay-on=${B}`), { headers: { 'fly-force-instance-id': B } });
      assert.equal(r.machine, A);
      assert.match(r.json!.replaySrc!, new RegExp(`^instance=${B};region=fra;`));
      const e = await send(d, 'rp', q('elsewhere=true', `&replay-on=${A}`), { headers: { 'fly-force-instance-id': A } });
      assert.equal(e.machine, B);
    }
    const unknown = await send(d, 'rp', q('instance=nope'));
    assert.equal(unknown.status, 502);
    assert.match(unknown.text, /asked to replay the request to machine nope, which is not a machine of app rp\n$/);
  });

  await t.test('fly-replay app=: another app of this hangar answers; an unknown app is a 502', async () => {
    const r = await send(d, 'rp', q('app=other'));
    assert.equal(r.status, 200);
    assert.equal(r.machine, O);
    assert.equal(r.json!.app, 'other');
    const both = await send(d, 'rp', q(`app=other;instance=${O}`));
    assert.equal(both.machine, O);
    const nope = await send(d, 'rp', q('app=nowhere'));
    assert.equal(nope.status, 502);
    assert.match(nope.text, /asked to replay the request to app nowhere, which this hangar does not serve\n$/);
    const bad = await send(d, 'rp', q('bogus'));
    assert.equal(bad.status, 502);
    assert.match(bad.text, /answered with a fly-replay header the proxy cannot follow \(field "bogus" is not key=value\): bogus\n$/);
  });

  await t.test('bodies are replayed whole (sized, chunked, answered early); over 1 MB a replay is a 413, a normal request unaffected', async () => {
    const body = randomBytes(200_000);
    const headers = { 'fly-prefer-region': 'ams' };
    const sized = await send(d, 'rp', q('region=fra', '&replay-in=ams'), { method: 'POST', body, headers });
    assert.equal(sized.machine, B);
    assert.deepEqual([sized.json!.method, sized.json!.bodyBytes, sized.json!.bodySha], ['POST', body.length, sha(body)]);
    const chunks = [body.subarray(0, 70_000), body.subarray(70_000)];
    const chunked = await send(d, 'rp', q('region=fra', '&replay-in=ams'), { method: 'PUT', body: chunks, headers });
    assert.deepEqual([chunked.machine, chunked.json!.method, chunked.json!.bodyBytes, chunked.json!.bodySha], [B, 'PUT', body.length, sha(body)]);
    // A answers before it has the body; the rest of it is only sent once the proxy has that answer.
    const answered = async () => (await d.api('GET', `/v1/apps/rp/metrics?window=600s&machines=${A}`)).body.requests as number;
    const before = await answered();
    const between = () => waitUntil(async () => (await answered()) > before, 10_000, "A's early replay answer");
    const early = await send(d, 'rp', q('region=fra', '&replay-in=ams&early=1'), { method: 'POST', body: chunks, headers, between });
    assert.deepEqual([early.machine, early.json!.bodyBytes, early.json!.bodySha], [B, body.length, sha(body)]);

    const big = randomBytes(1536 * 1024);
    const tooBig = await send(d, 'rp', q('region=fra', '&replay-in=ams'), { method: 'POST', body: big, headers });
    assert.equal(tooBig.status, 413);
    assert.equal(tooBig.text, 'hangar proxy: a machine asked to replay the request (fly-replay), but its body is over 1 MB, the most the proxy keeps to replay\n');
    const tooBigChunked = await send(d, 'rp', q('region=fra', '&replay-in=ams'), { method: 'POST', body: [big.subarray(0, 1000), big.subarray(1000)], headers });
    assert.equal(tooBigChunked.status, 413);
    const plain = await send(d, 'rp', '/', { method: 'POST', body: big });
    assert.deepEqual([plain.status, plain.json!.bodyBytes, plain.json!.bodySha], [200, big.length, sha(big)]);
  });

  await t.test('a replay loop ends after 3 replays with a 508', async () => {
    const r = await send(d, 'rp', q('elsewhere=true', '&loop=1'), { method: 'POST', body: Buffer.from('x') });
    assert.equal(r.status, 508);
    assert.match(r.text, /^hangar proxy: the request was replayed 3 times \(fly-replay\), the most the proxy does, and machine \S+ of app rp asked for another\n$/);
  });
});
