import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { ndjsonLines } from '../src/cli/client.js';
import { buildImage } from '../src/cli/build.js';
import { Context } from '../src/cli/context.js';
import { isUserError } from '../src/core/errors.js';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../src/images/stream.js';
import { startDaemon, waitUntil, type TestDaemon } from './helpers.js';

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function appDir(t: TestContext): string {
  const dir = tempDir(t, 'hangar-build-app-');
  writeFileSync(join(dir, 'server.js'), 'console.log("hi")\n');
  return dir;
}

/** Posts `dir` to the builds endpoint; returns the status and the parsed NDJSON lines (or the JSON error). */
async function postBuild(d: TestDaemon, app: string, dir: string, query: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  return fetch(`${d.url}/v1/apps/${app}/builds?${new URLSearchParams(query)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${d.token}`, 'content-type': SNAPSHOT_CONTENT_TYPE },
    body: Readable.toWeb(packDirectory(dir).stream) as unknown as RequestInit['body'],
    duplex: 'half',
    signal,
  } as RequestInit);
}

async function* lines(res: Response): AsyncGenerator<any> {
  for await (const line of ndjsonLines(res)) yield JSON.parse(line);
}

/** Points the CLI's client at the test daemon (node runs each test file in its own process). */
function cliContext(d: TestDaemon): Context {
  process.env.HANGAR_API_URL = d.url;
  process.env.HANGAR_API_TOKEN = d.token;
  return new Context({});
}

test('a build streams its output and stores what the command made', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'web' });
  const dir = appDir(t);
  const output: Array<[string, string]> = [];
  const image = await buildImage(cliContext(d), 'web', dir, {
    tag: 'v1',
    command: 'echo building; mkdir dist && echo "built by $HANGAR_BUILD" > dist/out.txt; echo done >&2',
    onOutput: (stream, line) => output.push([stream, line]),
  });
  assert.deepEqual(output, [['stdout', 'building'], ['stderr', 'done']]);
  assert.equal(image.ref, 'hangar.local/web:v1');
  assert.match(image.digest, /^sha256:[0-9a-f]{64}$/);
  const rootfs = join(d.home, 'images', 'sha256', image.digest.slice('sha256:'.length), 'rootfs');
  assert.equal(readFileSync(join(rootfs, 'dist/out.txt'), 'utf8'), 'built by 1\n');
  assert.equal(readFileSync(join(rootfs, 'server.js'), 'utf8'), 'console.log("hi")\n');
  const listed = await d.api('GET', '/v1/apps/web/images');
  assert.deepEqual(listed.body.map((i: { ref: string }) => i.ref), ['hangar.local/web:v1']);
});

test('a failing build ends with the error line and makes no image', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'web' });
  const dir = appDir(t);
  const res = await postBuild(d, 'web', dir, { tag: 'bad', command: 'echo compiling; echo "error: nope" >&2; exit 2' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const got = [];
  for await (const line of lines(res)) got.push(line);
  assert.deepEqual(got.slice(0, 2), [
    { type: 'output', stream: 'stdout', line: 'compiling' },
    { type: 'output', stream: 'stderr', line: 'error: nope' },
  ]);
  assert.equal(got.length, 3);
  const last = got[2];
  assert.equal(last.type, 'error');
  assert.equal(last.error.code, 'build_failed');
  assert.equal(last.error.error, 'build command failed with exit code 2: echo compiling; echo "error: nope" >&2; exit 2');
  assert.ok(last.error.hint);
  assert.deepEqual(last.error.details, [
    { path: 'build.output', message: 'compiling' },
    { path: 'build.output', message: 'error: nope' },
  ]);
  assert.deepEqual((await d.api('GET', '/v1/apps/web/images')).body, []);

  // The CLI turns the error line back into the same UserError.
  await assert.rejects(
    buildImage(cliContext(d), 'web', dir, { tag: 'bad', command: 'exit 5', onOutput: () => {} }),
    (err) => isUserError(err) && err.code === 'build_failed' && err.message === 'build command failed with exit code 5: exit 5',
  );
  assert.deepEqual((await d.api('GET', '/v1/apps/web/images')).body, []);
});

test('refusals that need no body are plain 4xx: unknown app, bad query, wrong content type', async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t);
  const unknown = await postBuild(d, 'nope', dir, { tag: 'v1' });
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { code: string }).code, 'app_not_found');
  await d.api('POST', '/v1/apps', { app_name: 'web' });
  const badQuery = await postBuild(d, 'web', dir, { tag: 'no spaces', timeout: 'soon' });
  assert.equal(badQuery.status, 400);
  const body = (await badQuery.json()) as { details: Array<{ path: string }> };
  assert.deepEqual(body.details.map((x) => x.path).sort(), ['querystring.tag', 'querystring.timeout']);
  const json = await d.api('POST', '/v1/apps/web/builds?tag=v1', {});
  assert.equal(json.status, 400);
  assert.equal(json.body.code, 'unsupported_media_type');
});

test('a client that disconnects cancels the build and its processes', async (t) => {
  const d = await startDaemon(t);
  await d.api('POST', '/v1/apps', { app_name: 'web' });
  const dir = appDir(t);
  const pidFile = join(tempDir(t, 'hangar-build-pid-'), 'pid');
  const disconnect = new AbortController();
  const res = await postBuild(d, 'web', dir, { tag: 'v1', command: `sleep 60 & echo $! > ${pidFile}; echo ready; wait` }, disconnect.signal);
  for await (const line of lines(res)) {
    if (line.line === 'ready') break;
  }
  disconnect.abort();
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(pid > 1);
  await waitUntil(() => !isRunning(pid), 10_000, 'the build process to be killed');
  assert.deepEqual((await d.api('GET', '/v1/apps/web/images')).body, []);
});

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
