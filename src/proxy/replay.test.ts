import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { BodyCapture, forcedInstance, parseReplay, replaySource, steerForReplay, unroutable } from './replay.js';
import { RoutingTable, type BackendUpdate } from './routing-table.js';

test('fly-replay: fields separated by ;, quoted region lists, unknown fields ignored, nothing to do refused', () => {
  assert.deepEqual(parseReplay('region=fra'), { ok: true, value: { elsewhere: false, regions: ['fra'] } });
  assert.deepEqual(parseReplay('region="ams, fra,any";app=other;state=abc'), { ok: true, value: { elsewhere: false, regions: ['ams', 'fra', 'any'], app: 'other', state: 'abc' } });
  assert.deepEqual(parseReplay(' instance=m1 ; elsewhere=true ; timeout=2s'), { ok: true, value: { elsewhere: true, instance: 'm1' } });
  assert.deepEqual(parseReplay('prefer_instance=m2;state="a;b"'), { ok: true, value: { elsewhere: false, preferInstance: 'm2', state: 'a;b' } });
  assert.deepEqual(parseReplay('elsewhere=true'), { ok: true, value: { elsewhere: true } });
  const refused = (raw: string) => {
    const r = parseReplay(raw);
    assert.equal(r.ok, false, raw);
    return r.ok ? '' : r.error;
  };
  assert.match(refused(''), /names no region/);
  assert.match(refused('state=x'), /names no region/);
  assert.match(refused('elsewhere=false'), /names no region/);
  assert.match(refused('region'), /not key=value/);
  assert.match(refused('region='), /region= is empty/);
  assert.match(refused('elsewhere=yes'), /not true or false/);
});

test('a replay steers to its app (or the asking one), its machine or regions, never back to the asker with elsewhere', () => {
  const from = { machineId: 'm1', app: 'web' };
  assert.deepEqual(steerForReplay({ elsewhere: false, regions: ['fra'] }, from, { app: 'web', preferRegion: 'ams' }), {
    app: 'web',
    only: undefined,
    onlyBy: undefined,
    regions: ['fra'],
    preferMachine: undefined,
    preferRegion: undefined,
    exclude: undefined,
  });
  const s = steerForReplay({ elsewhere: true, app: 'api', instance: 'm9' }, from, { app: 'web', preferRegion: 'ams' });
  assert.equal(s.app, 'api');
  assert.equal(s.only, 'm9');
  assert.equal(s.onlyBy, 'fly-replay instance=m9');
  assert.equal(s.preferRegion, 'ams', "the client's preference still counts without regions");
  assert.equal(s.exclude, 'm1');
});

test('fly-replay-src names the asking machine, its region, the time in microseconds and the state', () => {
  assert.equal(replaySource('m1', 'ams', undefined, 1_700_000_000_123), 'instance=m1;region=ams;t=1700000000123000');
  assert.equal(replaySource('m1', 'ams', 'v2', 1), 'instance=m1;region=ams;t=1000;state=v2');
  assert.equal(replaySource('m1', 'ams', 'a;b', 1), 'instance=m1;region=ams;t=1000;state="a;b"');
});

test('the force headers: hangar- first, then fly-; blank is none', () => {
  assert.deepEqual(forcedInstance({ 'fly-force-instance-id': ' m1 ' }), { machineId: 'm1', header: 'fly-force-instance-id' });
  assert.deepEqual(forcedInstance({ 'fly-force-instance-id': 'm1', 'hangar-force-instance-id': 'm2' }), { machineId: 'm2', header: 'hangar-force-instance-id' });
  assert.equal(forcedInstance({ 'fly-force-instance-id': '' }), undefined);
  assert.equal(forcedInstance({}), undefined);
});

test('503 texts name the machine or regions a request was steered to', () => {
  assert.match(unroutable({ app: 'web', only: 'm1', onlyBy: 'fly-force-instance-id' }, 200).answer, /machine m1 of app web is not routable \(waited 200 ms\); a request for it \(fly-force-instance-id\) goes to no other machine/);
  assert.match(unroutable({ app: 'web', regions: ['fra'] }, 200).answer, /no healthy machine in region fra/);
  assert.equal(unroutable({ app: 'web' }, 200).log, 'No healthy machine: the request was held 200 ms (hold timeout), then answered 503');
});

/** A request stream as the server gives it: headers, and a body the test writes. */
function fakeRequest(headers: Record<string, string>): PassThrough & IncomingMessage {
  const s = new PassThrough() as PassThrough & IncomingMessage;
  (s as { headers: Record<string, string> }).headers = headers;
  return s;
}

test('body capture: keeps the piped chunks up to the limit, settles on end, overflow or a client gone; release drops them', async () => {
  assert.equal(await BodyCapture.of(fakeRequest({})).settled(), 'complete', 'no body: nothing to wait for');
  assert.equal(BodyCapture.of(fakeRequest({})).body().length, 0);
  assert.equal(await BodyCapture.of(fakeRequest({ 'content-length': '11' }), 10).settled(), 'overflow', 'announced too big: nothing kept');

  const req = fakeRequest({ 'transfer-encoding': 'chunked' });
  const c = BodyCapture.of(req, 10);
  c.attach(req);
  const sink: Buffer[] = [];
  req.on('data', (d: Buffer) => sink.push(d));
  req.write('hello ');
  req.write('you');
  assert.equal(c.resendable, true);
  const settled = c.settled();
  req.end();
  assert.equal(await settled, 'complete');
  assert.equal(c.body().toString(), 'hello you');
  assert.equal(Buffer.concat(sink).toString(), 'hello you', 'the stream itself is untouched');

  const big = fakeRequest({ 'transfer-encoding': 'chunked' });
  const o = BodyCapture.of(big, 4);
  o.attach(big);
  big.resume();
  big.write('12345');
  assert.equal(await o.settled(), 'overflow');
  assert.equal(o.resendable, false);

  const gone = fakeRequest({ 'content-length': '5' });
  const g = BodyCapture.of(gone, 10);
  g.attach(gone);
  gone.write('12');
  const left = g.settled();
  gone.destroy();
  assert.equal(await left, 'aborted');

  const done = fakeRequest({ 'content-length': '2' });
  const r = BodyCapture.of(done, 10);
  r.attach(done);
  done.write('ab');
  r.release();
  assert.equal(r.resendable, false);
  assert.equal(await r.settled(), 'overflow', 'a released body is not there to replay');
});

const machine = (machineId: string, region: string, extra: Partial<BackendUpdate> = {}): BackendUpdate => ({ machineId, instanceId: `${machineId}-i`, app: 'web', region, host: '127.0.0.1', port: 1, inService: true, ...extra });

test('routing table: only one machine, required regions in order, a preferred machine; known machines stay known while stopped', () => {
  const t = new RoutingTable(100);
  t.upsert(machine('a', 'ams'));
  t.upsert(machine('f', 'fra', { remote: true }));
  t.upsert(machine('s', 'syd'));
  for (const id of ['a', 'f', 's']) t.setHealthy(id, `${id}-i`, true);
  for (let i = 0; i < 20; i++) {
    assert.equal(t.pick('web', { only: 'f' })?.machineId, 'f', 'forced: even a remote one over local ones');
    assert.equal(t.pick('web', { regions: ['dfw', 'fra'] })?.machineId, 'f', 'the first listed region with a machine');
    assert.notEqual(t.pick('web', { regions: ['any'], exclude: new Set(['a']) })?.machineId, 'a');
    assert.equal(t.pick('web', { preferMachine: 's' })?.machineId, 's');
  }
  assert.equal(t.pick('web', { regions: ['dfw'] }), undefined);
  assert.equal(t.pick('web', { only: 'nope' }), undefined);
  // Stopped: out of the table's rotation, still a machine of the app.
  t.upsert(machine('s', 'syd', { port: null, inService: false }));
  assert.equal(t.pick('web', { only: 's' }), undefined);
  assert.equal(t.pick('web', { preferMachine: 's', regions: ['ams'] })?.machineId, 'a', 'a preferred machine that cannot take it is passed over');
  assert.equal(t.knows('web', 's'), true);
  t.remove('web', 's');
  assert.equal(t.knows('web', 's'), false);
  assert.equal(t.knows('other', 'a'), false);
});

test('routing table: a relay for one machine only never falls back to another machine of the app', () => {
  const t = new RoutingTable(100);
  t.upsert(machine('a', 'ams'));
  t.upsert(machine('b', 'ams'));
  t.setHealthy('a', 'a-i', true);
  t.setHealthy('b', 'b-i', false);
  assert.equal(t.relayTarget('b')?.machineId, 'a', 'an ordinary relay takes another machine here');
  assert.equal(t.relayTarget('b', { only: true }), undefined);
  assert.equal(t.relayTarget('a', { only: true })?.machineId, 'a');
});
