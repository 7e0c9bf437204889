import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideRestart, type RestartInput } from './restart.js';

const base: RestartInput = { policy: 'on-failure', maxRetries: 3, exitCode: 1, failures: 0, ranMs: 100, stableAfterMs: 10_000, backoffBaseMs: 100, backoffMaxMs: 1000 };

test('on-failure: exit 0 stops, non-zero restarts with growing backoff, then fails', () => {
  assert.deepEqual(decideRestart({ ...base, exitCode: 0 }), { action: 'stop' });
  assert.deepEqual(decideRestart(base), { action: 'restart', delayMs: 100, failures: 1 });
  assert.deepEqual(decideRestart({ ...base, failures: 2 }), { action: 'restart', delayMs: 400, failures: 3 });
  assert.deepEqual(decideRestart({ ...base, failures: 3 }), { action: 'fail', failures: 4 });
});

test('backoff is capped', () => {
  assert.equal((decideRestart({ ...base, maxRetries: 20, failures: 10 }) as { delayMs: number }).delayMs, 1000);
});

test('a stable run resets the failure count', () => {
  assert.deepEqual(decideRestart({ ...base, failures: 3, ranMs: 20_000 }), { action: 'restart', delayMs: 100, failures: 1 });
});

test('no never restarts; always restarts clean exits too', () => {
  assert.deepEqual(decideRestart({ ...base, policy: 'no' }), { action: 'stop' });
  assert.deepEqual(decideRestart({ ...base, policy: 'always', exitCode: 0 }), { action: 'restart', delayMs: 100, failures: 1 });
  assert.deepEqual(decideRestart({ ...base, policy: 'always', exitCode: null }), { action: 'restart', delayMs: 100, failures: 1 });
});
