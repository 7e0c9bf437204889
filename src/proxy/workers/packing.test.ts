import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PACKING, Packing, parsePacking } from './packing.js';

const obj = (m: Map<number, string>) => Object.fromEntries(m);

test('calm workers pack onto the first; a busy first spreads them; a busy worker sheds some while another is idle', () => {
  const p = new Packing();
  assert.deepEqual(obj(p.report(1, 0.1, 0)), {}, 'the first worker keeps its connections');
  assert.deepEqual(obj(p.report(2, 0.05, 10)), { 2: 'all' }, 'the second closes every connection it answers');
  assert.equal(p.isPacked, true);
  assert.deepEqual(obj(p.report(1, 0.6, 300)), {}, 'busy, but below homeBusy: still packed');
  assert.deepEqual(obj(p.report(1, 0.9, 600)), { 1: 'some', 2: 'none' }, 'over homeBusy: spread, and the busy first sheds some');
  assert.equal(p.isPacked, false);
  assert.deepEqual(obj(p.report(2, 0.6, 650)), { 1: 'none' }, 'nobody idle: nobody sheds');
  assert.deepEqual(obj(p.report(1, 0.5, 900)), {});
});

test('spread workers pack again only after being calm together for settleMs', () => {
  const p = new Packing({ ...PACKING, settleMs: 1000 });
  p.report(1, 0.9, 0);
  p.report(2, 0.6, 0);
  assert.equal(p.isPacked, false);
  assert.deepEqual(obj(p.report(1, 0.2, 100)), {});
  assert.deepEqual(obj(p.report(2, 0.1, 200)), {}, 'calm since 200');
  assert.deepEqual(obj(p.report(1, 0.3, 700)), {});
  assert.deepEqual(obj(p.report(1, 0.35, 800)), {}, 'calm, but the sum 0.45 only for 600 ms');
  assert.deepEqual(obj(p.report(2, 0.3, 900)), {}, 'the sum 0.65: calm ends');
  assert.deepEqual(obj(p.report(2, 0.1, 1000)), {});
  assert.equal(p.isPacked, false);
  assert.deepEqual(obj(p.report(1, 0.2, 2000)), { 2: 'all' }, 'calm for 1000 ms: packed');
  assert.equal(p.isPacked, true);
});

test('when the first worker goes, the next one is home and keeps its connections', () => {
  const p = new Packing();
  p.report(1, 0.1, 0);
  p.report(2, 0.1, 0);
  p.report(3, 0.1, 0);
  assert.deepEqual(obj(p.remove(1, 10)), { 2: 'none' });
  assert.deepEqual(obj(p.report(4, 0, 20)), { 4: 'all' }, 'a replacement worker is not home');
  assert.deepEqual(obj(p.remove(2, 30)), { 3: 'none' });
});

test('one worker never sheds', () => {
  const p = new Packing();
  for (const elu of [0, 0.5, 0.99, 0.1]) assert.deepEqual(obj(p.report(1, elu, 0)), {});
});

test('HANGAR_PROXY_PACKING: the defaults, off, overrides, and a bad value is one line naming what is expected', () => {
  assert.deepEqual(parsePacking(undefined), PACKING);
  assert.deepEqual(parsePacking(''), PACKING);
  assert.equal(parsePacking('off'), false);
  assert.deepEqual(parsePacking('homeBusy:0.3, busy:0.4'), { ...PACKING, homeBusy: 0.3, busy: 0.4 });
  for (const bad of ['on', 'homeBusy', 'homeBusy:', 'homeBusy:x', 'speed:1', 'idle:-1']) {
    assert.throws(() => parsePacking(bad), /^Error: HANGAR_PROXY_PACKING: expected "off" or key:value pairs of packBelow, settleMs, homeBusy, busy, idle \(numbers ≥ 0\), got /, bad);
  }
});
