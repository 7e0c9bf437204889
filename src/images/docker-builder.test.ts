import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { isUserError } from '../core/errors.js';
import { describeEndpoint, EngineClient, isEngineStatus } from '../runtime/docker/engine.js';
import { BUILD_OUTPUT_PATH, BUILD_OUTPUT_TAIL, type OutputStream } from './builder.js';
import { DockerImageBuilder, type DockerBuildOptions, type DockerBuildResult } from './docker-builder.js';
import { packDirectory } from './stream.js';
import { rejectsWithCode, streamOf, tempDir, writeTree } from './test-support.js';

/** Debian's busybox-static: the only program the FROM-scratch test images have. */
const BUSYBOX = '/bin/busybox';

const engine = new EngineClient();
const where = engine.endpoint.kind === 'unix' ? engine.endpoint.socketPath : describeEndpoint(engine.endpoint);

interface Setup {
  builder: DockerImageBuilder;
  tmpRoot: string;
  /** The app directory: the build context once snapshotted. */
  ctx: string;
}

interface Line {
  stream: OutputStream;
  line: string;
  at: number;
}

function setup(t: TestContext, client: EngineClient = engine): Setup {
  const home = tempDir(t, 'hangar-docker-build-');
  const tmpRoot = path.join(home, 'tmp', 'builds');
  const ctx = tempDir(t, 'hangar-docker-ctx-');
  fs.copyFileSync(BUSYBOX, path.join(ctx, 'busybox'));
  fs.chmodSync(path.join(ctx, 'busybox'), 0o755);
  return { builder: new DockerImageBuilder({ engine: client, tmpRoot }), tmpRoot, ctx };
}

/** Unique per run, so no step is answered from the engine's build cache. */
function nonce(): string {
  return `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

/** A fresh tag, removed from the engine when the test ends (pass or fail). */
function tagFor(t: TestContext, name: string): string {
  const tag = `hangar.local/docker-builder-${name}:${nonce()}`;
  t.after(() => engine.text('DELETE', `/images/${encodeURIComponent(tag)}`, { query: { force: 1 } }).catch(() => {}));
  return tag;
}

/** A Dockerfile whose image has busybox at /bin/busybox, followed by `steps`. */
function dockerfile(...steps: string[]): string {
  return ['FROM scratch', 'COPY busybox /bin/busybox', ...steps, ''].join('\n');
}

/** A RUN step in exec form running `script` with busybox's sh. */
function sh(script: string): string {
  return `RUN ${JSON.stringify([BUSYBOX, 'sh', '-c', script])}`;
}

/** Snapshots the context and builds it, collecting output lines with the time they arrived. */
async function run(s: Setup, opts: Partial<DockerBuildOptions> & { tag: string }, lines: Line[] = []): Promise<DockerBuildResult> {
  return s.builder.build(packDirectory(s.ctx).stream, {
    timeoutMs: 60_000,
    onOutput: (stream, line) => lines.push({ stream, line, at: Date.now() }),
    ...opts,
  });
}

function leftovers(tmpRoot: string): string[] {
  return fs.existsSync(tmpRoot) ? fs.readdirSync(tmpRoot) : [];
}

async function imageExists(tag: string): Promise<boolean> {
  try {
    await engine.json('GET', `/images/${encodeURIComponent(tag)}/json`);
    return true;
  } catch (err) {
    if (isEngineStatus(err, 404)) return false;
    throw err;
  }
}

/** The RUN step's container, from the engine's " ---> Running in <id>" line. */
function runningContainer(lines: Line[]): string {
  const id = lines.map((l) => /^ ---> Running in ([0-9a-f]{12,64})$/.exec(l.line)?.[1]).find((x) => x !== undefined);
  assert.ok(id, 'the engine named the RUN step container');
  return id;
}

async function waitContainerGone(id: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      await engine.json('GET', `/containers/${id}/json`);
    } catch (err) {
      if (isEngineStatus(err, 404)) return;
      throw err;
    }
    if (Date.now() > deadline) assert.fail(`build container ${id} is still there`);
    await delay(100);
  }
}

function texts(lines: Line[], stream?: OutputStream): string[] {
  return lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.line);
}

// These never reach an engine: the engine they are given does not exist.
describe('DockerImageBuilder before the engine', () => {
  const nowhere = (t: TestContext) => new EngineClient({ kind: 'unix', socketPath: path.join(tempDir(t, 'hangar-no-engine-'), 'docker.sock') });

  test('a missing Dockerfile is dockerfile_not_found, naming the path and [build] dockerfile', async (t) => {
    const s = setup(t, nowhere(t));
    const err = (await rejectsWithCode(run(s, { tag: 'hangar.local/x:1' }), 'dockerfile_not_found', /"Dockerfile"/)) as Error & { hint?: string };
    assert.match(err.hint ?? '', /\[build\] dockerfile/);
    writeTree(s.ctx, { 'Dockerfile': dockerfile(), 'docker/prod.Dockerfile/x': 'a directory, not a file' });
    await rejectsWithCode(run(s, { tag: 'hangar.local/x:1', dockerfile: 'docker/missing.Dockerfile' }), 'dockerfile_not_found', /"docker\/missing\.Dockerfile"/);
    await rejectsWithCode(run(s, { tag: 'hangar.local/x:1', dockerfile: 'docker/prod.Dockerfile' }), 'dockerfile_not_found', /docker\/prod\.Dockerfile/);
    await rejectsWithCode(run(s, { tag: 'hangar.local/x:1', dockerfile: '../Dockerfile' }), 'dockerfile_not_found', /outside the build context/);
    await rejectsWithCode(run(s, { tag: 'hangar.local/x:1', dockerfile: '/etc/passwd' }), 'dockerfile_not_found', /outside the build context/);
    assert.deepEqual(leftovers(s.tmpRoot), []);
  });

  test('an unreachable engine is docker_unavailable, as the engine client reports it', async (t) => {
    const client = nowhere(t);
    const s = setup(t, client);
    writeTree(s.ctx, { Dockerfile: dockerfile() });
    const err = await rejectsWithCode(run(s, { tag: 'hangar.local/x:1' }), 'docker_unavailable');
    const expected = await client.text('GET', '/_ping').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isUserError(expected));
    assert.equal(err.message, expected.message);
    assert.deepEqual(leftovers(s.tmpRoot), []);
  });

  test('a signal aborted before the build is build_cancelled', async (t) => {
    const s = setup(t, nowhere(t));
    writeTree(s.ctx, { Dockerfile: dockerfile() });
    const input = packDirectory(s.ctx).stream;
    // Never read: destroyed here so the packer's open file is closed rather than left to the GC.
    t.after(() => input.destroy());
    await rejectsWithCode(s.builder.build(input, { tag: 'hangar.local/x:1', timeoutMs: 10_000, signal: AbortSignal.abort(), onOutput: () => {} }), 'build_cancelled');
    assert.deepEqual(leftovers(s.tmpRoot), []);
  });

  test('a corrupt snapshot is image_corrupt and leaves no scratch dir', async (t) => {
    const s = setup(t, nowhere(t));
    const build = s.builder.build(streamOf(Buffer.from('not a snapshot')), { tag: 'hangar.local/x:1', timeoutMs: 10_000, onOutput: () => {} });
    await rejectsWithCode(build, 'image_corrupt');
    assert.deepEqual(leftovers(s.tmpRoot), []);
  });
});

if (!(await engine.ping()) || !fs.existsSync(BUSYBOX)) {
  const why = fs.existsSync(BUSYBOX) ? `no Docker Engine at ${where} (start dockerd --bridge=none to run these)` : `${BUSYBOX} is missing (apt-get install busybox-static)`;
  describe('DockerImageBuilder with a Docker Engine', { skip: why }, () => {});
} else {
  describe('DockerImageBuilder with a Docker Engine', () => {
    test('a good build returns the tagged image id; RUN output streams while the build runs', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'good');
      const n = nonce();
      writeTree(s.ctx, {
        Dockerfile: dockerfile(
          sh(`echo built-ok-${n} > /marker && /bin/busybox cat /marker && echo to-stderr-${n} >&2 && printf 'no newline-${n}'`),
          `RUN ["/bin/busybox", "sleep", "1"]`,
        ),
      });
      const lines: Line[] = [];
      const started = Date.now();
      const result = await run(s, { tag }, lines);
      const done = Date.now();
      t.diagnostic(`build took ${done - started} ms`);

      const image = await engine.json<{ Id: string; RepoTags: string[] }>('GET', `/images/${encodeURIComponent(tag)}/json`);
      assert.deepEqual(result, { id: image.Id, tag });
      assert.match(result.id, /^sha256:[0-9a-f]{64}$/);
      assert.ok(image.RepoTags.includes(tag));

      const echoed = lines.find((l) => l.line === `built-ok-${n}`);
      assert.ok(echoed, `the RUN step's echo reached onOutput; got ${JSON.stringify(texts(lines))}`);
      assert.equal(echoed.stream, 'stdout');
      // The next step sleeps a second: a line seen only after the build would arrive with the rest.
      assert.ok(done - echoed.at >= 700, `the echo arrived ${done - echoed.at} ms before the build ended`);
      assert.ok(texts(lines, 'stderr').includes(`to-stderr-${n}`), 'stderr of a RUN step is reported as stderr, without colour codes');
      assert.ok(texts(lines, 'stdout').includes(`no newline-${n}`), 'an unfinished line ends where the engine reports the next step');
      assert.ok(texts(lines).some((l) => l.startsWith('Step 1/4 : FROM scratch')));
      for (const l of lines) assert.ok(l.line.trim() !== '' && !l.line.includes('\n') && !l.line.includes('\u001b'), `clean line ${JSON.stringify(l.line)}`);
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('the context keeps file modes, nested and empty directories and symlinks', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'context');
      const n = nonce();
      writeTree(s.ctx, {
        'app/run.sh': { content: '#!/bin/busybox sh\necho ran\n', mode: 0o750 },
        'app/data.txt': { content: `data-${n}\n`, mode: 0o640 },
        'app/link': { link: 'data.txt' },
        'app/empty': { dir: true, mode: 0o711 },
        'app/deep/er/f.txt': `deep-${n}\n`,
        Dockerfile: dockerfile(
          'COPY app /app',
          sh(
            'cd /app && /bin/busybox stat -c "mode %a %F %n" run.sh data.txt empty && echo "link -> $(/bin/busybox readlink link)" ' +
              '&& /bin/busybox cat link deep/er/f.txt',
          ),
        ),
      });
      const lines: Line[] = [];
      await run(s, { tag }, lines);
      const out = texts(lines);
      for (const expected of ['mode 750 regular file run.sh', 'mode 640 regular file data.txt', 'mode 711 directory empty', 'link -> data.txt', `data-${n}`, `deep-${n}`]) {
        assert.ok(out.includes(expected), `${JSON.stringify(expected)} in ${JSON.stringify(out)}`);
      }
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('a failing RUN step is build_failed with its output in the details, and no image is tagged', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'fail');
      const n = nonce();
      writeTree(s.ctx, { Dockerfile: dockerfile(sh(`echo about-to-fail-${n}; exit 3`)) });
      const err = await rejectsWithCode(run(s, { tag }), 'build_failed', /^docker build failed: .*returned a non-zero code: 3/);
      assert.ok(isUserError(err));
      assert.equal(err.hint, 'fix the Dockerfile step shown above and deploy again');
      assert.ok(err.details.some((d) => d.path === BUILD_OUTPUT_PATH && d.message === `about-to-fail-${n}`), JSON.stringify(err.details));
      assert.equal(await imageExists(tag), false);
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('the details of a failure keep only the last BUILD_OUTPUT_TAIL lines', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'tail');
      const n = nonce();
      writeTree(s.ctx, { Dockerfile: dockerfile(sh(`i=0; while [ $i -lt 150 ]; do echo line-$i-${n}; i=$((i+1)); done; exit 1`)) });
      const lines: Line[] = [];
      const err = await rejectsWithCode(run(s, { tag }, lines), 'build_failed');
      assert.ok(isUserError(err));
      assert.equal(err.details.length, BUILD_OUTPUT_TAIL);
      assert.deepEqual(err.details.map((d) => d.message), texts(lines).slice(-BUILD_OUTPUT_TAIL));
      const messages = err.details.map((d) => d.message);
      assert.ok(messages.includes(`line-149-${n}`) && !messages.includes(`line-10-${n}`));
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('a custom dockerfile path, build args and target are honoured', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'target');
      const n = nonce();
      writeTree(s.ctx, {
        'docker/build.Dockerfile': [
          'FROM scratch AS base',
          'COPY busybox /bin/busybox',
          'FROM base AS picked',
          'ARG GREETING',
          sh('echo "greeting=$GREETING"'),
          // Built only if the target were ignored, and then the build would fail.
          'FROM base AS skipped',
          sh('echo should-not-run; exit 9'),
          '',
        ].join('\n'),
      });
      const lines: Line[] = [];
      const result = await run(s, { tag, dockerfile: 'docker/build.Dockerfile', target: 'picked', args: { GREETING: `hello-${n}` } }, lines);
      const out = texts(lines);
      assert.ok(out.includes(`greeting=hello-${n}`), JSON.stringify(out));
      assert.ok(!out.some((l) => l.includes('should-not-run')));
      assert.equal(result.id, (await engine.json<{ Id: string }>('GET', `/images/${encodeURIComponent(tag)}/json`)).Id);
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('an unknown target fails the build before any step', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'no-target');
      writeTree(s.ctx, { Dockerfile: dockerfile() });
      await rejectsWithCode(run(s, { tag, target: 'nope' }), 'build_failed', /nope/);
      assert.equal(await imageExists(tag), false);
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });

    test('cancelling stops the build: build_cancelled, its container gone, no scratch dir', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'cancel');
      const n = nonce();
      writeTree(s.ctx, { Dockerfile: dockerfile(sh(`echo sleeping-${n}; /bin/busybox sleep 30`)) });
      const ac = new AbortController();
      const lines: Line[] = [];
      const started = Date.now();
      const build = s.builder.build(packDirectory(s.ctx).stream, {
        tag,
        timeoutMs: 120_000,
        signal: ac.signal,
        onOutput: (stream, line) => {
          lines.push({ stream, line, at: Date.now() });
          // Cancelling on the step's own output also shows the output arrived while the step ran.
          if (line === `sleeping-${n}`) ac.abort();
        },
      });
      await rejectsWithCode(build, 'build_cancelled');
      t.diagnostic(`cancelled after ${Date.now() - started} ms`);
      assert.ok(Date.now() - started < 30_000);
      assert.deepEqual(leftovers(s.tmpRoot), []);
      await waitContainerGone(runningContainer(lines));
      assert.equal(await imageExists(tag), false);
    });

    test('a build over its time is build_timeout with its output so far, and is stopped', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'timeout');
      const n = nonce();
      writeTree(s.ctx, { Dockerfile: dockerfile(sh(`echo waiting-${n}; /bin/busybox sleep 30`)) });
      const lines: Line[] = [];
      const started = Date.now();
      const err = await rejectsWithCode(run(s, { tag, timeoutMs: 3000 }, lines), 'build_timeout', /within 3s/);
      t.diagnostic(`timed out after ${Date.now() - started} ms`);
      assert.ok(Date.now() - started < 20_000);
      assert.ok(isUserError(err));
      assert.ok(err.details.some((d) => d.path === BUILD_OUTPUT_PATH && d.message === `waiting-${n}`), JSON.stringify(err.details));
      assert.deepEqual(leftovers(s.tmpRoot), []);
      await waitContainerGone(runningContainer(lines));
      assert.equal(await imageExists(tag), false);
    });

    test('an error thrown by onOutput ends the build with that error', async (t) => {
      const s = setup(t);
      const tag = tagFor(t, 'listener');
      writeTree(s.ctx, { Dockerfile: dockerfile(sh('echo hi')) });
      const boom = new Error('listener gone');
      await assert.rejects(
        s.builder.build(packDirectory(s.ctx).stream, {
          tag,
          timeoutMs: 60_000,
          onOutput: () => {
            throw boom;
          },
        }),
        (err) => err === boom,
      );
      assert.deepEqual(leftovers(s.tmpRoot), []);
    });
  });
}
