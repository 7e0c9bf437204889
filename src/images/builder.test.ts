import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { BUILD_OUTPUT_PATH, BUILD_OUTPUT_TAIL, ImageBuilder, type BuildOptions, type OutputStream } from './builder.js';
import { computeManifest } from './manifest.js';
import { ImageStore } from './store.js';
import { packDirectory } from './stream.js';
import { rejectsWithCode, tempDir, writeTree } from './test-support.js';

interface Setup {
  builder: ImageBuilder;
  store: ImageStore;
  tmpRoot: string;
  src: string;
  /** A scratch dir outside the build, for files the build command leaves for the test (pid files). */
  side: string;
}

function setup(t: TestContext): Setup {
  const home = tempDir(t, 'hangar-builder-');
  const store = new ImageStore(path.join(home, 'images'));
  const tmpRoot = path.join(home, 'images', 'tmp', 'builds');
  const src = tempDir(t, 'hangar-build-src-');
  writeTree(src, { 'package.json': '{"name":"app"}\n', 'src/index.js': 'console.log("hi")\n' });
  return { builder: new ImageBuilder({ store, tmpRoot }), store, tmpRoot, src, side: tempDir(t, 'hangar-build-side-') };
}

/** Builds `src` and collects its output lines. */
async function run(s: Setup, opts: Partial<BuildOptions> = {}) {
  const lines: Array<[OutputStream, string]> = [];
  const image = await s.builder.build(packDirectory(s.src).stream, {
    timeoutMs: 30_000,
    onOutput: (stream, line) => lines.push([stream, line]),
    ...opts,
  });
  return { image, lines };
}

function leftovers(tmpRoot: string): string[] {
  return fs.existsSync(tmpRoot) ? fs.readdirSync(tmpRoot) : [];
}

/** Alive and not a zombie (a reaper-less container can keep zombies around; they run nothing). */
function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) assert.fail(`process ${pid} is still running`);
    await delay(20);
  }
}

function readPid(file: string): number {
  const pid = Number(fs.readFileSync(file, 'utf8').trim());
  assert.ok(pid > 1, `a pid in ${file}`);
  return pid;
}

test('without a command the snapshot is stored exactly as uploaded', async (t) => {
  const s = setup(t);
  const { image, lines } = await run(s);
  assert.equal(image.digest, (await computeManifest(s.src)).digest);
  assert.equal(fs.readFileSync(path.join(image.rootfs, 'src/index.js'), 'utf8'), 'console.log("hi")\n');
  assert.deepEqual(lines, []);
  assert.deepEqual((await s.store.list()).map((i) => i.digest), [image.digest]);
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('what the command writes is in the image; it sees HANGAR_BUILD and the given env, not the daemon secrets', async (t) => {
  const s = setup(t);
  process.env.HANGAR_BUILDER_TEST_SECRET = 'leak';
  t.after(() => delete process.env.HANGAR_BUILDER_TEST_SECRET);
  const command = 'mkdir -p dist && cp src/index.js dist/ && echo "$HANGAR_BUILD $GREETING ${HANGAR_BUILDER_TEST_SECRET:-none}" > dist/env.txt';
  const { image } = await run(s, { command, env: { GREETING: 'hello' } });
  assert.equal(fs.readFileSync(path.join(image.rootfs, 'dist/index.js'), 'utf8'), 'console.log("hi")\n');
  assert.equal(fs.readFileSync(path.join(image.rootfs, 'dist/env.txt'), 'utf8'), '1 hello none\n');
  assert.equal(fs.existsSync(path.join(image.rootfs, 'package.json')), true, 'the snapshot is kept');
  await s.store.verify(image.digest, { deep: true });
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('output lines reach onOutput in order, per stream, as lines', async (t) => {
  const s = setup(t);
  const command = 'i=1; while [ $i -le 200 ]; do echo "line $i"; i=$((i+1)); done; echo oops >&2; printf "crlf\\r\\nno newline at the end"';
  const { lines } = await run(s, { command });
  const stdout = lines.filter(([stream]) => stream === 'stdout').map(([, l]) => l);
  assert.deepEqual(stdout, [...Array.from({ length: 200 }, (_, i) => `line ${i + 1}`), 'crlf', 'no newline at the end']);
  assert.deepEqual(lines.filter(([stream]) => stream === 'stderr'), [['stderr', 'oops']]);
});

test('a failing command is build_failed with its last output lines, and stores nothing', async (t) => {
  const s = setup(t);
  // The build also leaves a read-only directory behind: the scratch dir must still go.
  const command = 'mkdir -p ro/sub && chmod 555 ro/sub ro; i=1; while [ $i -le 150 ]; do echo "out $i"; i=$((i+1)); done; echo "npm ERR! boom" >&2; exit 3';
  const lines: string[] = [];
  const err = (await rejectsWithCode(
    s.builder.build(packDirectory(s.src).stream, { command, timeoutMs: 30_000, onOutput: (_, l) => lines.push(l) }),
    'build_failed',
  )) as Error & { details: Array<{ path: string; message: string }> };
  assert.equal(err.message, `build command failed with exit code 3: ${command}`);
  assert.equal(lines.length, 151, 'every line was streamed');
  assert.equal(err.details.length, BUILD_OUTPUT_TAIL);
  assert.ok(err.details.every((d) => d.path === BUILD_OUTPUT_PATH));
  assert.deepEqual(err.details.map((d) => d.message), lines.slice(-BUILD_OUTPUT_TAIL));
  assert.equal(err.details.at(-1)!.message, 'npm ERR! boom');
  assert.deepEqual(await s.store.list(), []);
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('a timeout kills the whole process group quickly and fails with build_timeout', async (t) => {
  const s = setup(t);
  const pidFile = path.join(s.side, 'pid');
  const started = Date.now();
  const err = await rejectsWithCode(
    run(s, { command: 'echo starting; sleep 60 & echo $! > "$PID_FILE"; wait', env: { PID_FILE: pidFile }, timeoutMs: 300 }),
    'build_timeout',
  );
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.match(err.message, /300ms/);
  assert.deepEqual((err as Error & { details: unknown[] }).details, [{ path: BUILD_OUTPUT_PATH, message: 'starting' }]);
  await waitGone(readPid(pidFile));
  assert.deepEqual(await s.store.list(), []);
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('a process that ignores SIGTERM gets SIGKILL after the grace period', async (t) => {
  const s = setup(t);
  const pidFile = path.join(s.side, 'pid');
  const started = Date.now();
  // An ignored signal stays ignored across exec, so this sleep really ignores SIGTERM.
  await rejectsWithCode(run(s, { command: `trap '' TERM; sleep 60 & echo $! > "$PID_FILE"; wait`, env: { PID_FILE: pidFile }, timeoutMs: 200 }), 'build_timeout');
  const took = Date.now() - started;
  assert.ok(took >= 2000 && took < 6000, `took ${took} ms`);
  await waitGone(readPid(pidFile));
});

test('aborting the signal cancels a running build', async (t) => {
  const s = setup(t);
  const pidFile = path.join(s.side, 'pid');
  const cancel = new AbortController();
  const build = run(s, {
    command: 'sleep 60 & echo $! > "$PID_FILE"; echo ready; wait',
    env: { PID_FILE: pidFile },
    signal: cancel.signal,
    onOutput: (_, line) => {
      if (line === 'ready') cancel.abort();
    },
  });
  await rejectsWithCode(build, 'build_cancelled');
  await waitGone(readPid(pidFile));
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('background jobs a successful build leaves running are killed, and the build does not wait for them', async (t) => {
  const s = setup(t);
  const pidFile = path.join(s.side, 'pid');
  const started = Date.now();
  const { image } = await run(s, { command: 'sleep 60 & echo $! > "$PID_FILE"; echo done > built.txt', env: { PID_FILE: pidFile } });
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.equal(fs.readFileSync(path.join(image.rootfs, 'built.txt'), 'utf8'), 'done\n');
  await waitGone(readPid(pidFile));
});

test('.dockerignore filters the context, not what the build makes; .git never enters the image', async (t) => {
  const s = setup(t);
  writeTree(s.src, { '.dockerignore': 'node_modules\n', 'node_modules/stale/index.js': 'old\n' });
  const command = 'test ! -e node_modules/stale && mkdir -p node_modules/dep .git && echo "module.exports = 1" > node_modules/dep/index.js && echo ref > .git/HEAD';
  const { image } = await run(s, { command });
  assert.equal(fs.readFileSync(path.join(image.rootfs, 'node_modules/dep/index.js'), 'utf8'), 'module.exports = 1\n');
  assert.equal(fs.existsSync(path.join(image.rootfs, '.git')), false);
  assert.equal(fs.existsSync(path.join(image.rootfs, '.dockerignore')), true);
});

test('a listener that throws ends the build with its error', async (t) => {
  const s = setup(t);
  const boom = new Error('listener broke');
  await assert.rejects(run(s, { command: 'echo one; sleep 60', onOutput: () => { throw boom; } }), (err) => err === boom);
  assert.deepEqual(await s.store.list(), []);
  assert.deepEqual(leftovers(s.tmpRoot), []);
});

test('a corrupt snapshot is image_corrupt and leaves nothing behind', async (t) => {
  const s = setup(t);
  await rejectsWithCode(s.builder.build(Readable.from([Buffer.from('not gzip')]), { command: 'true', timeoutMs: 1000, onOutput: () => {} }), 'image_corrupt');
  assert.deepEqual(leftovers(s.tmpRoot), []);
});
