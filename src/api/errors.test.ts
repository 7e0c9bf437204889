import assert from 'node:assert/strict';
import { test } from 'node:test';
import Fastify from 'fastify';
import pino from 'pino';
import { UserError } from '../core/errors.js';
import { errorAnswer, errorHandler } from './errors.js';

/** A pino logger whose lines land in an array, parsed. */
function memoryLog() {
  const lines: Array<Record<string, any>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

test('an unexpected error is a 500 `internal` with its message and request id; the log has the cause chain', () => {
  const { log, lines } = memoryLog();
  const root = Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
  const err = new TypeError('cannot save machine m1\nsecond line', { cause: new Error('write failed', { cause: root }) });
  const answer = errorAnswer(err, { log, requestId: 'req-1', fields: { method: 'GET', url: '/v1/x' } });
  assert.deepEqual(answer, { status: 500, body: { error: 'TypeError: cannot save machine m1 second line', code: 'internal', details: [], request_id: 'req-1' } });
  assert.equal(lines.length, 1);
  const [line] = lines;
  assert.equal(line!.level, 50);
  assert.equal(line!.msg, 'request failed');
  assert.equal(line!.reqId, 'req-1');
  assert.equal(line!.url, '/v1/x');
  assert.equal(line!.err.type, 'TypeError');
  assert.equal(line!.err.message, 'cannot save machine m1\nsecond line: write failed: EROFS: read-only file system');
  assert.match(line!.err.stack, /caused by: Error: write failed[\s\S]*caused by: Error: EROFS/);
});

test('a UserError keeps its status; a 503 is logged as a warning with its cause, a 4xx is not logged', () => {
  const { log, lines } = memoryLog();
  const engine = new Error('connect ENOENT /nonexistent/docker.sock');
  const down = new UserError({ code: 'docker_unavailable', kind: 'unavailable', message: 'no Docker Engine answers', hint: 'start one', cause: engine });
  assert.deepEqual(errorAnswer(down, { log, requestId: 'r2' }), { status: 503, body: { error: 'no Docker Engine answers', code: 'docker_unavailable', hint: 'start one', details: [], request_id: 'r2' } });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.level, 40);
  assert.equal(lines[0]!.reqId, 'r2');
  assert.equal(lines[0]!.err.message, 'no Docker Engine answers: connect ENOENT /nonexistent/docker.sock');
  const missing = new UserError({ code: 'app_not_found', kind: 'not_found', message: 'app "x" not found' });
  assert.equal(errorAnswer(missing, { log, requestId: 'r3' }).status, 404);
  assert.equal(lines.length, 1, 'the user’s own mistakes are not logged');
});

test('through fastify: request validation, a fastify 4xx, a thrown non-error and a bug', async (t) => {
  const { log, lines } = memoryLog();
  const app = Fastify({ genReqId: () => 'fixed-id' });
  t.after(() => app.close());
  app.setErrorHandler(errorHandler(log));
  app.get('/bug', async () => {
    throw new RangeError('index 7 out of range');
  });
  app.get('/string', async () => {
    throw 'a string';
  });
  app.post('/json', async (req) => req.body);
  const bug = await app.inject({ method: 'GET', url: '/bug' });
  assert.equal(bug.statusCode, 500);
  assert.deepEqual(bug.json(), { error: 'RangeError: index 7 out of range', code: 'internal', details: [], request_id: 'fixed-id' });
  assert.equal(lines.at(-1)!.method, 'GET');
  const thrown = await app.inject({ method: 'GET', url: '/string' });
  assert.equal(thrown.statusCode, 500);
  assert.equal(thrown.json().code, 'internal');
  const badJson = await app.inject({ method: 'POST', url: '/json', headers: { 'content-type': 'application/json' }, payload: '{nope' });
  assert.equal(badJson.statusCode, 400);
  assert.equal(badJson.json().code, 'invalid_json', 'fastify’s own error, under hangar’s code for it');
  assert.equal(badJson.json().hint, 'send a JSON body, or no content-type with no body');
  assert.equal(badJson.json().request_id, 'fixed-id');
  assert.equal(lines.length, 2, 'the bad JSON body is the client’s mistake, not logged');
});
