import assert from 'node:assert/strict';
import { UserError } from './errors.js';

/** The code of the UserError `p` rejects with, or 'no error' when it resolves (for unit tests). */
export async function errorCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof UserError, String(err));
    return err.code;
  }
  return 'no error';
}
