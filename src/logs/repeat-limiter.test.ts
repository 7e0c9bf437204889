import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RepeatLimiter } from './repeat-limiter.js';

/** A hand-driven clock: `fire()` runs the timers that are due, as the window ends. */
function manualTimers() {
  const pending = new Set<() => void>();
  return {
    schedule: (fn: () => void) => {
      pending.add(fn);
      return () => pending.delete(fn);
    },
    fire() {
      const due = [...pending];
      pending.clear();
      for (const fn of due) fn();
    },
    get count() {
      return pending.size;
    },
  };
}

test('a burst of one line yields the line, then one summary per window with the count of repeats', () => {
  const timers = manualTimers();
  const out: string[] = [];
  const limiter = new RepeatLimiter<string>({ windowMs: 1000, schedule: timers.schedule, write: (m, n) => out.push(n ? `${m} (${n} more)` : m) });
  for (let i = 0; i < 500; i++) limiter.offer('app\u0000no healthy machine', 'no healthy machine');
  assert.deepEqual(out, ['no healthy machine']);
  timers.fire();
  assert.deepEqual(out, ['no healthy machine', 'no healthy machine (499 more)']);
  limiter.offer('app\u0000no healthy machine', 'no healthy machine');
  limiter.offer('app\u0000no healthy machine', 'no healthy machine');
  assert.equal(out.length, 2, 'the summary opened the next window: repeats are still counted');
  timers.fire();
  assert.equal(out.at(-1), 'no healthy machine (2 more)');
  timers.fire();
  assert.equal(timers.count, 0, 'a quiet window closes the key');
  limiter.offer('app\u0000no healthy machine', 'no healthy machine');
  assert.equal(out.at(-1), 'no healthy machine', 'after a quiet window the next line is written at once');
});

test('keys are limited separately, and flush writes the summaries still pending', () => {
  const timers = manualTimers();
  const out: Array<[string, number]> = [];
  const limiter = new RepeatLimiter<string>({ windowMs: 1000, schedule: timers.schedule, write: (m, n) => out.push([m, n]) });
  limiter.offer('a', 'A');
  limiter.offer('b', 'B');
  limiter.offer('a', 'A');
  limiter.offer('b', 'B');
  limiter.offer('b', 'B');
  assert.deepEqual(out, [['A', 0], ['B', 0]]);
  limiter.flush();
  assert.deepEqual(out, [['A', 0], ['B', 0], ['A', 1], ['B', 2]]);
  assert.equal(timers.count, 0, 'flush cancels the timers');
});
