import assert from 'node:assert/strict';
import { ValidationError } from '../core/errors.js';

/** Runs `fn`, asserts it throws a ValidationError, and returns it for closer inspection. */
export function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a ValidationError');
}
