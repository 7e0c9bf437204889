import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { appDir, BIN, ROOT, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';

const BUG_LINE = /^Error: internal error in the hangar daemon \(a bug in hangar, not your input\): (.+); request id ([0-9A-Z]{26}); see (.+)$/;

/** The daemon log's JSON lines (pino writes it asynchronously: callers wait for what they need). */
function logLines(d: TestDaemon): Array<Record<string, any>> {
  return readFileSync(join(d.home, 'daemon.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** Waits for the daemon log's entry for a request, by its id. */
async function logEntry(d: TestDaemon, reqId: string): Promise<Record<string, any>> {
  let found: Record<string, any> | undefined;
  await waitUntil(() => (found = logLines(d).find((l) => l.reqId === reqId)) !== undefined, 10_000, `the log entry of request ${reqId}`);
  return found!;
}

/** Stores a value the daemon cannot read back: the app's routing column stops being JSON. */
function corruptRouting(d: TestDaemon, app: string): void {
  const db = new Database(join(d.home, 'state.db'));
  try {
    db.pragma('busy_timeout = 5000');
    assert.equal(db.prepare('UPDATE apps SET routing = ? WHERE name = ?').run('{"hostnames": [', app).changes, 1);
  } finally {
    db.close();
  }
}

test('a daemon bug reaches the CLI as one line with the request id and the log, exit 2; 4xx and 503 stay user errors, exit 1', async (t) => {
  // No Docker Engine, so that an image only Docker could run is a real 503.
  const d = await startDaemon(t, { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assert.equal((await d.api('POST', '/v1/apps', { app_name: 'broken' })).status, 201);
  corruptRouting(d, 'broken');

  const r = d.cli(['apps', 'list']);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  const m = BUG_LINE.exec(lines[0]!);
  assert.ok(m, lines[0]);
  const [, message, reqId, log] = m;
  assert.match(message!, /^SyntaxError: .*JSON/);
  assert.equal(log, join(d.home, 'daemon.log'));
  assert.match(lines[1]!, /^hint: please report this bug in hangar .*daemon log's entry for [0-9A-Z]{26}; --debug shows the whole answer$/);
  assert.ok(lines[1]!.includes(reqId!));

  const entry = await logEntry(d, reqId!);
  assert.equal(entry.level, 50);
  assert.equal(entry.msg, 'request failed');
  assert.equal(entry.url, '/v1/apps');
  assert.equal(entry.err.type, 'SyntaxError');
  assert.match(entry.err.stack, /toApp/, 'the stack shows where it broke');

  // Every answer carries its request id; an error body repeats it.
  const res = await fetch(`${d.url}/v1/apps/broken`, { headers: { authorization: `Bearer ${d.token}` } });
  const body = (await res.json()) as { code: string; request_id: string };
  assert.equal(res.status, 500);
  assert.equal(body.code, 'internal');
  assert.match(body.request_id, /^[0-9A-Z]{26}$/);
  assert.equal(res.headers.get('x-request-id'), body.request_id);
  const ok = await fetch(`${d.url}/health`);
  assert.match(ok.headers.get('x-request-id') ?? '', /^[0-9A-Z]{26}$/);
  assert.notEqual(ok.headers.get('x-request-id'), body.request_id);

  const debug = d.cli(['status', '-a', 'broken', '--debug']);
  assert.equal(debug.status, 2, debug.stderr);
  assert.match(debug.stderr.split('\n')[0]!, BUG_LINE);
  assert.match(debug.stderr, /\nthe daemon answered 500: \{"error":"SyntaxError: .*"code":"internal".*"request_id":"[0-9A-Z]{26}"\}\n/);

  const missing = d.cli(['status', '-a', 'nope']);
  assert.equal(missing.status, 1, missing.stderr);
  assert.match(missing.stderr, /^Error: app "nope" not found\n(hint: .*\n)?$/);

  // A 503 with a UserError code is a state of the host, not a bug: exit 1, and the daemon logs why.
  const dir = appDir(t, WEB_TOML('nodock'));
  const docker = await d.cliAsync(['deploy', dir, '--image', 'busybox:1.36']);
  assert.equal(docker.status, 1, docker.stdout + docker.stderr);
  assert.match(docker.stderr, /^Error: image busybox:1\.36 is not in this daemon's image store, and running it as a Docker image needs a Docker Engine/m);
  assert.doesNotMatch(docker.stderr, /a bug in hangar/);
  let refused: Record<string, any> | undefined;
  await waitUntil(() => (refused = logLines(d).find((l) => l.msg === 'request refused: unavailable' && l.code === 'docker_unavailable')) !== undefined, 10_000, 'the 503 in the log');
  assert.equal(refused!.level, 40);
  assert.match(refused!.err.stack, /\ncaused by: /, 'the error it was made from is in the log line');
});

/** A stand-in daemon on loopback that answers every request with `answer`, for the CLI's remote mode. */
async function scriptedDaemon(t: { after(fn: () => unknown): void }, answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Runs the CLI without blocking this process (the scripted daemon answers from here). */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env, cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stderr });
    });
  });
}

test('against a remote daemon: a 5xx without a UserError code is a bug whose log is on that host; a coded 503 is not', async (t) => {
  let answer: { status: number; type: string; body: string; id?: string } = { status: 502, type: 'text/html', body: '<h1>Bad Gateway</h1>' };
  const url = await scriptedDaemon(t, (_req, res) => {
    res.writeHead(answer.status, { 'content-type': answer.type, ...(answer.id ? { 'x-request-id': answer.id } : {}) });
    res.end(answer.body);
  });
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_API_URL: url, HANGAR_API_TOKEN: 'x'.repeat(43) };
  const host = new URL(url).host;

  const gateway = await cli(['apps', 'list'], env);
  assert.equal(gateway.status, 2, gateway.stderr);
  assert.equal(gateway.stderr.split('\n')[0], `Error: internal error in the hangar daemon (a bug in hangar, not your input): the daemon answered 502 Bad Gateway; no request id in the answer; see the daemon's log on ${host}`);

  answer = { status: 500, type: 'application/json', body: JSON.stringify({ error: 'TypeError: x is undefined', code: 'internal', details: [] }), id: '01J9ZX3Q4R5S6T7V8W9X0Y1Z2A' };
  const bug = await cli(['apps', 'list'], env);
  assert.equal(bug.status, 2, bug.stderr);
  assert.equal(bug.stderr.split('\n')[0], `Error: internal error in the hangar daemon (a bug in hangar, not your input): TypeError: x is undefined; request id 01J9ZX3Q4R5S6T7V8W9X0Y1Z2A; see the daemon's log on ${host}`, 'the id comes from the header when the body has none');

  answer = { status: 503, type: 'application/json', body: JSON.stringify({ error: 'no Docker Engine answers at unix:///x.sock', code: 'docker_unavailable', hint: 'start one', details: [], request_id: '01J9ZX3Q4R5S6T7V8W9X0Y1Z2B' }) };
  const down = await cli(['apps', 'list'], env);
  assert.equal(down.status, 1, down.stderr);
  assert.equal(down.stderr, 'Error: no Docker Engine answers at unix:///x.sock\nhint: start one\n');

  answer = { status: 504, type: 'application/json', body: JSON.stringify({ error: 'upstream timed out' }) };
  const timeout = await cli(['apps', 'list'], env);
  assert.equal(timeout.status, 2, timeout.stderr);
  assert.match(timeout.stderr, /^Error: internal error in the hangar daemon \(a bug in hangar, not your input\): upstream timed out; no request id/);
});
