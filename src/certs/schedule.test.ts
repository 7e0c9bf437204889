import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RETRY_DELAYS_MS, renewsAt, retryAt } from './schedule.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 0, 1);

test('renewal: renewBefore ahead of expiry, never before half the lifetime', () => {
  assert.equal(renewsAt(T0, T0 + 90 * DAY, 30 * DAY), T0 + 60 * DAY, "a 90-day certificate renews 30 days before it expires");
  assert.equal(renewsAt(T0, T0 + 6 * DAY, 30 * DAY), T0 + 3 * DAY, 'a 6-day certificate renews halfway, not at once');
  assert.equal(renewsAt(T0, T0 + 40 * DAY, 20 * DAY), T0 + 20 * DAY, 'exactly at the floor');
});

test('retries back off through the delays, and the last one repeats', () => {
  const delays = [1000, 5000, 60_000];
  assert.equal(retryAt(1, T0, delays), T0 + 1000);
  assert.equal(retryAt(2, T0, delays), T0 + 5000);
  assert.equal(retryAt(3, T0, delays), T0 + 60_000);
  assert.equal(retryAt(9, T0, delays), T0 + 60_000);
  assert.equal(retryAt(0, T0, delays), T0 + 1000, 'a count below one is the first step');
  assert.equal(retryAt(1, T0, []), T0 + DEFAULT_RETRY_DELAYS_MS[0]!, 'no delays given: the defaults');
  assert.deepEqual(DEFAULT_RETRY_DELAYS_MS.map((ms) => ms / 60_000), [1, 5, 30, 120, 360]);
});
