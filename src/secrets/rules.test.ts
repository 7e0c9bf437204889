import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UserError } from '../core/errors.js';
import { checkChange, nameProblem, SECRET_LIMITS, valueProblem } from './rules.js';

test('names: environment variable names, FLY_/HANGAR_ and platform names reserved', () => {
  for (const ok of ['A', '_x', 'DATABASE_URL', 'a1_B2']) assert.equal(nameProblem(ok), undefined, ok);
  assert.match(nameProblem('')!, /empty/);
  assert.match(nameProblem('1A')!, /not a valid environment variable name/);
  assert.match(nameProblem('A-B')!, /not a valid/);
  assert.match(nameProblem('A B')!, /not a valid/);
  assert.match(nameProblem('FLY_APP_NAME')!, /starts with FLY_, which is reserved/);
  assert.match(nameProblem('HANGAR_X')!, /starts with HANGAR_/);
  assert.match(nameProblem('PORT')!, /reserved/);
  assert.match(nameProblem('X'.repeat(300))!, /longer than 256/);
});

test('values: up to 64 KiB, no NUL; the message never quotes the value', () => {
  assert.equal(valueProblem('K', 'x'.repeat(SECRET_LIMITS.valueBytes)), undefined);
  const big = 's3cr3t'.repeat(20_000);
  assert.match(valueProblem('K', big)!, /the value of K is 120000 bytes; the limit is 65536/);
  assert.ok(!valueProblem('K', big)!.includes('s3cr3t'));
  assert.match(valueProblem('K', 'a\0b')!, /NUL/);
});

const codeOf = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UserError);
    return { code: err.code, message: err.message, details: err.details };
  }
  return undefined;
};

test('a change is checked whole: every problem at once, with its path', () => {
  const none = new Map<string, number>();
  assert.equal(codeOf(() => checkChange({ set: { A: '1' }, unset: [] }, none)), undefined);
  assert.equal(codeOf(() => checkChange({ set: {}, unset: [] }, none))!.message, 'nothing to set or unset');
  const many = codeOf(() => checkChange({ set: { '1A': 'v', FLY_X: 'v' }, unset: ['NOPE'] }, none))!;
  assert.equal(many.code, 'invalid_secret');
  assert.equal(many.message, '3 problems with these secrets');
  assert.deepEqual(many.details.map((d) => d.path), ['set.1A', 'set.FLY_X', 'unset.NOPE']);
  const missing = codeOf(() => checkChange({ set: {}, unset: ['NOPE'] }, none))!;
  assert.equal(missing.code, 'secret_not_found');
  assert.equal(missing.details.length, 0, 'one problem is the message, not repeated as a detail');
  assert.match(codeOf(() => checkChange({ set: { A: '1' }, unset: ['A'] }, new Map([['A', 1]])))!.message, /both set and unset/);
});

test('limits: 100 secrets and 1 MiB per app, counted after the change', () => {
  const full = new Map(Array.from({ length: 100 }, (_, i) => [`S${i}`, 10] as const));
  assert.equal(codeOf(() => checkChange({ set: { S0: 'new' }, unset: [] }, full)), undefined, 'replacing one keeps 100');
  assert.equal(codeOf(() => checkChange({ set: { NEW: 'x' }, unset: ['S1'] }, full)), undefined, 'one out, one in');
  const over = codeOf(() => checkChange({ set: { NEW: 'x' }, unset: [] }, full))!;
  assert.equal(over.code, 'secrets_limit_exceeded');
  assert.match(over.message, /would have 101 secrets; the limit is 100/);
  const heavy = new Map(Array.from({ length: 16 }, (_, i) => [`H${i}`, 64 * 1024] as const));
  assert.match(codeOf(() => checkChange({ set: { MORE: 'x'.repeat(1000) }, unset: [] }, heavy))!.message, /limit is 1048576 \(1 MiB\)/);
});
