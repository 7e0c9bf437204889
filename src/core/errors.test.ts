import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, httpStatusFor, UserError } from './errors.js';

test('a UserError keeps the error it was made from as its standard cause', () => {
  const io = Object.assign(new Error('EACCES: permission denied, open /x/config.json'), { code: 'EACCES' });
  const err = new UserError({ code: 'config_unreadable', kind: 'unavailable', message: 'cannot read /x/config.json', hint: 'fix its permissions', cause: io });
  assert.equal(err.cause, io);
  assert.equal(err.message, 'cannot read /x/config.json', 'the cause is not folded into the message');
  assert.equal(err.code, 'config_unreadable');
  assert.equal(httpStatusFor(err.kind), 503);
  // Node prints the cause under the error, which is what --debug and the daemon log rely on.
  assert.match(err.stack ?? '', /cannot read \/x\/config\.json/);
});

test('without a cause there is no cause property at all, as for a plain Error', () => {
  const err = new UserError({ code: 'x', message: 'y' });
  assert.equal('cause' in err, false);
  assert.equal('cause' in new ConflictError('taken', 'name taken'), false);
  const falsy = new UserError({ code: 'x', message: 'y', cause: 0 });
  assert.equal(falsy.cause, 0, 'any thrown value can be a cause');
});
