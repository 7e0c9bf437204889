import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UserError } from '../src/core/errors.js';
import { buildImage } from '../src/runtime/docker/build.js';
import { pullImage, pushImage, registryOf } from '../src/runtime/docker/distribution.js';
import { imageName, parseImageRef } from '../src/core/image-ref.js';
import { describeEndpoint, EngineClient, engineEndpoint, isEngineStatus } from '../src/runtime/docker/engine.js';
import { DOCKER_HUB_AUTH_KEY, encodeRegistryAuth, registryAuthFor } from '../src/runtime/docker/registry-auth.js';
import { BUSYBOX_IMAGE_TAG, busyboxImage } from './fixtures/docker/busybox-image.js';
import { startFakeRegistry, type FakeRegistry } from './fixtures/fake-registry.js';

const engine = new EngineClient(engineEndpoint());
const where = engine.endpoint.kind === 'unix' ? engine.endpoint.socketPath : describeEndpoint(engine.endpoint);

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A temp DOCKER_CONFIG directory holding `config` (a string is written as is, to test broken files). */
function dockerConfig(t: { after(fn: () => unknown): void }, config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-dockercfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

function isUserErrorWith(code: string, check: (e: UserError) => void = () => {}) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  };
}

describe('registry credentials, read as the docker CLI reads them', () => {
  test('auths: base64 user:password under any key form, identity tokens, Docker Hub aliases', async (t) => {
    const configDir = dockerConfig(t, {
      auths: {
        'https://127.0.0.1:5000/v2/': { auth: b64('alice:pa:ss') },
        'ghcr.io': { identitytoken: 'id-token-1' },
        [DOCKER_HUB_AUTH_KEY]: { auth: b64('hubber:hub-pw') },
        'quay.io': {},
      },
    });
    assert.deepEqual(await registryAuthFor('127.0.0.1:5000', { configDir }), { kind: 'password', serverAddress: '127.0.0.1:5000', username: 'alice', password: 'pa:ss' });
    assert.deepEqual(await registryAuthFor('ghcr.io', { configDir }), { kind: 'token', serverAddress: 'ghcr.io', identityToken: 'id-token-1' });
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io', DOCKER_HUB_AUTH_KEY]) {
      assert.deepEqual(await registryAuthFor(hub, { configDir }), { kind: 'password', serverAddress: DOCKER_HUB_AUTH_KEY, username: 'hubber', password: 'hub-pw' }, hub);
    }
    assert.equal(await registryAuthFor('quay.io', { configDir }), undefined);
    assert.equal(await registryAuthFor('127.0.0.1:5001', { configDir }), undefined);
  });

  test('no config file means anonymous; $DOCKER_CONFIG is where the file is looked for by default', async (t) => {
    const empty = mkdtempSync(join(tmpdir(), 'hangar-dockercfg-'));
    t.after(() => rmSync(empty, { recursive: true, force: true }));
    assert.equal(await registryAuthFor('127.0.0.1:5000', { configDir: empty }), undefined);

    const configDir = dockerConfig(t, { auths: { '127.0.0.1:5000': { auth: b64('env-user:env-pw') } } });
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = configDir;
    t.after(() => (saved === undefined ? delete process.env.DOCKER_CONFIG : (process.env.DOCKER_CONFIG = saved)));
    assert.deepEqual(await registryAuthFor('127.0.0.1:5000'), { kind: 'password', serverAddress: '127.0.0.1:5000', username: 'env-user', password: 'env-pw' });
  });

  test('credHelpers and credsStore run docker-credential-<name> get with the server address on stdin', async (t) => {
    const bin = mkdtempSync(join(tmpdir(), 'hangar-credbin-'));
    t.after(() => rmSync(bin, { recursive: true, force: true }));
    const helper = join(bin, 'docker-credential-fake');
    writeFileSync(
      helper,
      [
        '#!/bin/sh',
        'read -r server',
        'echo "$1 $server" >> "$(dirname "$0")/calls"',
        'case "$server" in',
        '  127.0.0.1:5999) echo \'{"ServerURL":"127.0.0.1:5999","Username":"helper-user","Secret":"helper-secret"}\' ;;',
        '  ghcr.io) echo \'{"ServerURL":"ghcr.io","Username":"<token>","Secret":"helper-token"}\' ;;',
        '  *) echo "credentials not found in native keychain"; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    chmodSync(helper, 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${savedPath ?? ''}`;
    t.after(() => (process.env.PATH = savedPath));

    // A helper for one registry wins over the file's own entry for it; credsStore covers the rest.
    const configDir = dockerConfig(t, {
      auths: { '127.0.0.1:5999': { auth: b64('file-user:file-pw') } },
      credHelpers: { '127.0.0.1:5999': 'fake', 'registry.example': 'missing-helper' },
      credsStore: 'fake',
    });
    assert.deepEqual(await registryAuthFor('127.0.0.1:5999', { configDir }), { kind: 'password', serverAddress: '127.0.0.1:5999', username: 'helper-user', password: 'helper-secret' });
    assert.deepEqual(await registryAuthFor('https://ghcr.io', { configDir }), { kind: 'token', serverAddress: 'ghcr.io', identityToken: 'helper-token' });
    assert.equal(await registryAuthFor('quay.io', { configDir }), undefined);
    assert.deepEqual(readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n'), ['get 127.0.0.1:5999', 'get ghcr.io', 'get quay.io']);

    await assert.rejects(
      registryAuthFor('registry.example', { configDir }),
      isUserErrorWith('docker_credentials_unavailable', (e) => {
        assert.match(e.message, /docker-credential-missing-helper/);
        assert.match(e.hint ?? '', /docker login registry\.example/);
      }),
    );
  });

  test('a malformed config.json is a UserError naming the file, with a hint and without its contents', async (t) => {
    const broken = dockerConfig(t, '{"auths": {"127.0.0.1:5000": {"auth": "c2VjcmV0LXZhbHVl"');
    await assert.rejects(
      registryAuthFor('127.0.0.1:5000', { configDir: broken }),
      isUserErrorWith('docker_config_invalid', (e) => {
        assert.ok(e.message.includes(join(broken, 'config.json')), e.message);
        assert.match(e.hint ?? '', /docker login/);
        assert.doesNotMatch(e.message, /c2VjcmV0/);
      }),
    );
    const badAuth = dockerConfig(t, { auths: { '127.0.0.1:5000': { auth: b64('no-colon-secret') } } });
    await assert.rejects(
      registryAuthFor('127.0.0.1:5000', { configDir: badAuth }),
      isUserErrorWith('docker_config_invalid', (e) => {
        assert.ok(e.message.includes(join(badAuth, 'config.json')), e.message);
        assert.doesNotMatch(`${e.message} ${e.hint}`, /no-colon-secret|bm8tY29sb24/);
      }),
    );
    const wrongShape = dockerConfig(t, { auths: ['127.0.0.1:5000'] });
    await assert.rejects(registryAuthFor('127.0.0.1:5000', { configDir: wrongShape }), isUserErrorWith('docker_config_invalid'));
  });

  test('the X-Registry-Auth value is URL-safe base64 of the engine AuthConfig; none is {}', () => {
    const decode = (s: string) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as unknown;
    const pw = encodeRegistryAuth({ kind: 'password', serverAddress: 'h:1', username: 'u', password: '??>>??>>' });
    assert.match(pw, /^[A-Za-z0-9_-]+=*$/);
    assert.deepEqual(decode(pw), { username: 'u', password: '??>>??>>', serveraddress: 'h:1' });
    assert.deepEqual(decode(encodeRegistryAuth({ kind: 'token', serverAddress: 'ghcr.io', identityToken: 't' })), { identitytoken: 't', serveraddress: 'ghcr.io' });
    assert.deepEqual(decode(encodeRegistryAuth(undefined)), {});
  });

  test('the registry of a reference is its host, or docker.io when it names none', () => {
    assert.equal(registryOf('127.0.0.1:5000/team/app:v1'), '127.0.0.1:5000');
    assert.equal(registryOf(`ghcr.io/a/b:v2@sha256:${'a'.repeat(64)}`), 'ghcr.io');
    assert.equal(registryOf('localhost/app'), 'localhost');
    assert.equal(registryOf('team/app:v1'), 'docker.io');
    assert.equal(registryOf('busybox'), 'docker.io');
    assert.throws(() => registryOf('Team/App'), isUserErrorWith('invalid_image_ref'));
  });
});

/** What a scripted engine received: the request line and the registry auth header. */
interface SeenRequest {
  method: string;
  url: string;
  auth: string | undefined;
}

/**
 * An HTTP server on a unix socket that answers like the engine's push and pull endpoints, with
 * canned JSON-lines streams: the parsing and error mapping are checked against exact inputs.
 */
async function scriptedEngine(t: { after(fn: () => unknown): void }, answer: (req: SeenRequest, res: ServerResponse) => void) {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-fake-engine-'));
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const r = { method: req.method ?? '', url: req.url ?? '', auth: req.headers['x-registry-auth'] as string | undefined };
    seen.push(r);
    req.resume();
    answer(r, res);
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 'engine.sock'), resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    rmSync(dir, { recursive: true, force: true });
  });
  return { engine: new EngineClient({ kind: 'unix', socketPath: join(dir, 'engine.sock') }), seen };
}

function jsonLinesAnswer(res: ServerResponse, messages: unknown[]): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(messages.map((m) => `${JSON.stringify(m)}\r\n`).join(''));
}

describe('push and pull progress and errors, against a scripted engine', () => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const auth = encodeRegistryAuth({ kind: 'password', serverAddress: '127.0.0.1:5000', username: 'u', password: 'hunter2-secret' });

  test('push sends X-Registry-Auth, reports one line per layer status and returns the aux digest', async (t) => {
    const { engine: scripted, seen } = await scriptedEngine(t, (_req, res) =>
      jsonLinesAnswer(res, [
        { status: 'The push refers to repository [127.0.0.1:5000/team/app]' },
        { status: 'Preparing', progressDetail: {}, id: 'aaa' },
        { status: 'Preparing', progressDetail: {}, id: 'bbb' },
        { status: 'Pushing', progressDetail: { current: 512, total: 2048 }, progress: '[===>   ] 512B/2kB', id: 'aaa' },
        { status: 'Pushing', progressDetail: { current: 1024, total: 2048 }, progress: '[=====> ] 1kB/2kB', id: 'aaa' },
        { status: 'Retrying in 5 seconds', progressDetail: {}, id: 'bbb' },
        { status: 'Retrying in 4 seconds', progressDetail: {}, id: 'bbb' },
        { status: 'Retrying in 1 second', progressDetail: {}, id: 'bbb' },
        { status: 'Retrying in 10 seconds', progressDetail: {}, id: 'bbb' },
        { status: 'Pushed', progressDetail: {}, id: 'aaa' },
        { status: 'Layer already exists', progressDetail: {}, id: 'bbb' },
        { status: `v1: digest: ${digest} size: 527` },
        { progressDetail: {}, aux: { Tag: 'v1', Digest: digest, Size: 527 } },
      ]),
    );
    const lines: string[] = [];
    assert.deepEqual(await pushImage(scripted, '127.0.0.1:5000/team/app:v1', { auth, onProgress: (l) => lines.push(l) }), { digest });
    assert.deepEqual(seen, [{ method: 'POST', url: `/images/${encodeURIComponent('127.0.0.1:5000/team/app')}/push?tag=v1`, auth }]);
    assert.deepEqual(lines, [
      'The push refers to repository [127.0.0.1:5000/team/app]',
      'aaa: Preparing',
      'bbb: Preparing',
      'aaa: Pushing',
      'bbb: Retrying in 5 seconds',
      'bbb: Retrying in 10 seconds',
      'aaa: Pushed',
      'bbb: Layer already exists',
      `v1: digest: ${digest} size: 527`,
    ]);
  });

  test('an error line fails the push with push_failed, a login hint, and secrets blanked out', async (t) => {
    const { engine: scripted, seen } = await scriptedEngine(t, (_req, res) =>
      jsonLinesAnswer(res, [
        { status: 'The push refers to repository [127.0.0.1:5000/team/app]' },
        { errorDetail: { message: 'unauthorized: password hunter2-secret rejected' }, error: 'unauthorized: password hunter2-secret rejected' },
      ]),
    );
    await assert.rejects(
      pushImage(scripted, '127.0.0.1:5000/team/app', { auth }),
      isUserErrorWith('push_failed', (e) => {
        assert.equal(e.kind, 'unauthorized');
        assert.match(e.message, /unauthorized: password \*\*\* rejected/);
        assert.ok(!e.message.includes('hunter2-secret'));
        assert.match(e.hint ?? '', /docker login 127\.0\.0\.1:5000/);
      }),
    );
    // No tag means latest; no credentials still sends the header (the engine requires it), as {}.
    await assert.rejects(pushImage(scripted, '127.0.0.1:5000/team/app:v2'), isUserErrorWith('push_failed'));
    assert.equal(seen[0]!.url, `/images/${encodeURIComponent('127.0.0.1:5000/team/app')}/push?tag=latest`);
    assert.equal(seen[1]!.auth, encodeRegistryAuth(undefined));
  });

  test('pull: tag or digest in the query; an HTTP 404 from the engine is image_not_found', async (t) => {
    const { engine: scripted, seen } = await scriptedEngine(t, (req, res) => {
      if (req.url.includes('missing')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'manifest for 127.0.0.1:5000/team/app:missing not found: manifest unknown: manifest unknown' }));
        return;
      }
      jsonLinesAnswer(res, [{ status: 'Pulling from team/app', id: 'v1' }, { status: `Digest: ${digest}` }]);
    });
    const lines: string[] = [];
    await pullImage(scripted, '127.0.0.1:5000/team/app:v1', { auth, onProgress: (l) => lines.push(l) });
    await pullImage(scripted, `127.0.0.1:5000/team/app@${digest}`);
    assert.deepEqual(lines, ['v1: Pulling from team/app', `Digest: ${digest}`]);
    assert.equal(seen[0]!.url, `/images/create?fromImage=${encodeURIComponent('127.0.0.1:5000/team/app')}&tag=v1`);
    assert.equal(seen[1]!.url, `/images/create?fromImage=${encodeURIComponent('127.0.0.1:5000/team/app')}&tag=${encodeURIComponent(digest)}`);
    await assert.rejects(
      pullImage(scripted, '127.0.0.1:5000/team/app:missing', { auth }),
      isUserErrorWith('image_not_found', (e) => {
        assert.match(e.message, /manifest unknown/);
        assert.match(e.hint ?? '', /check the image name and tag.*docker login 127\.0\.0\.1:5000/);
      }),
    );
  });

  test('references that cannot be pushed or pulled are refused before reaching the engine', async (t) => {
    const { engine: scripted, seen } = await scriptedEngine(t, (_req, res) => jsonLinesAnswer(res, []));
    await assert.rejects(pushImage(scripted, `app@${digest}`), isUserErrorWith('invalid_image_ref'));
    await assert.rejects(pullImage(scripted, 'app:'), isUserErrorWith('invalid_image_ref'));
    await assert.rejects(pullImage(scripted, 'app@sha256:short'), isUserErrorWith('invalid_image_ref'));
    assert.deepEqual(seen, []);
    // A stream that ends without a digest is not a successful push.
    await assert.rejects(pushImage(scripted, 'app:v1'), isUserErrorWith('push_failed'));
  });
});

if (!(await engine.ping())) {
  describe('push and pull through a registry', { skip: `no Docker Engine at ${where} (start dockerd --bridge=none to run these)` }, () => {});
} else {
  describe('push and pull through a registry', () => {
    const USER = 'hangar-ci';
    const PASSWORD = 'pw-7f3c9e1d';
    const WRONG_PASSWORD = 'wrong-5b2a8c4e';
    const stamp = `${Date.now().toString(36)}${process.pid}`;
    const localTag = `hangar.local/distribution-test:${stamp}`;
    let registry: FakeRegistry;
    let ref: string;
    let imageId: string;
    let root: string;
    const tags = new Set<string>();

    const configWith = (password: string): string => {
      const dir = join(root, password);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: b64(`${USER}:${password}`) } } }));
      return dir;
    };
    const authWith = async (password: string): Promise<string> => encodeRegistryAuth(await registryAuthFor(registry.host, { configDir: configWith(password) }));
    const inspect = (name: string) => engine.json<{ Id: string }>('GET', `/images/${encodeURIComponent(name)}/json`).catch((e: unknown) => (isEngineStatus(e, 404) ? undefined : Promise.reject(e)));
    const untag = (name: string) => engine.text('DELETE', `/images/${encodeURIComponent(name)}`).catch((e: unknown) => (isEngineStatus(e, 404) ? '' : Promise.reject(e)));

    // The image pushed is the busybox base plus one layer only this run has, so that after its tags
    // are removed a pull has to fetch that layer from the registry.
    before(async () => {
      root = mkdtempSync(join(tmpdir(), 'hangar-distribution-'));
      registry = await startFakeRegistry({ user: USER, password: PASSWORD });
      ref = `${registry.host}/hangar-test/app:v1`;
      await busyboxImage(engine);
      tags.add(localTag);
      const built = await buildImage(engine, {
        tag: localTag,
        context: [
          { type: 'file', name: 'Dockerfile', data: Buffer.from(`FROM ${BUSYBOX_IMAGE_TAG}\nCOPY stamp /stamp\n`) },
          { type: 'file', name: 'stamp', data: Buffer.from(`${stamp}\n`) },
        ],
      });
      imageId = built.digest;
      const parsed = parseImageRef(ref);
      const [repo, tag] = [imageName(parsed), parsed.tag!];
      tags.add(ref);
      await engine.text('POST', `/images/${encodeURIComponent(localTag)}/tag`, { query: { repo, tag } });
    });

    after(async () => {
      for (const tag of tags) if (tag !== BUSYBOX_IMAGE_TAG) await untag(tag).catch(() => {});
      await registry?.close();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    test('push with credentials from DOCKER_CONFIG: the registry gets the manifest and the Basic authorization', async () => {
      const lines: string[] = [];
      const { digest } = await pushImage(engine, ref, { auth: await authWith(PASSWORD), onProgress: (l) => lines.push(l) });
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      const pushed = registry.manifests();
      assert.deepEqual(
        pushed.map(({ name, reference }) => ({ name, reference })),
        [{ name: 'hangar-test/app', reference: 'v1' }],
      );
      assert.equal(pushed[0]!.digest, digest);
      assert.match(pushed[0]!.contentType, /^application\/vnd\.(docker\.distribution\.manifest\.v2|oci\.image\.manifest\.v1)\+json$/);
      assert.ok(registry.authHeadersSeen.includes(`Basic ${b64(`${USER}:${PASSWORD}`)}`), 'the registry saw the configured credentials');
      // One line per layer status: never the same status twice in a row for a layer, no progress bars.
      assert.ok(lines.length > 0);
      assert.ok(lines.some((l) => /: Pushed$/.test(l)), lines.join('\n'));
      assert.ok(!lines.some((l) => l.includes('=>')), lines.join('\n'));
      assert.equal(new Set(lines).size, lines.length, lines.join('\n'));
    });

    test('push with wrong credentials: push_failed with a docker login hint, and no password in the error', async () => {
      await assert.rejects(
        pushImage(engine, ref, { auth: await authWith(WRONG_PASSWORD) }),
        isUserErrorWith('push_failed', (e) => {
          assert.equal(e.kind, 'unauthorized', e.message);
          assert.match(e.hint ?? '', new RegExp(`docker login ${registry.host.replace(/\./g, '\\.')}`));
          const text = `${e.message} ${e.hint} ${JSON.stringify(e.details)}`;
          assert.ok(!text.includes(WRONG_PASSWORD) && !text.includes(PASSWORD), text);
        }),
      );
      assert.ok(registry.authHeadersSeen.includes(`Basic ${b64(`${USER}:${WRONG_PASSWORD}`)}`), 'the wrong credentials were sent');
    });

    test('pull brings the pushed image back, with the same image id', async () => {
      await untag(ref);
      await untag(localTag);
      assert.equal(await inspect(imageId), undefined, 'the image is gone from the engine before the pull');
      const lines: string[] = [];
      await pullImage(engine, ref, { auth: await authWith(PASSWORD), onProgress: (l) => lines.push(l) });
      assert.equal((await inspect(ref))?.Id, imageId);
      assert.ok(lines.some((l) => /Pull complete$/.test(l)), `a layer was downloaded:\n${lines.join('\n')}`);
      assert.ok(!lines.some((l) => l.includes('=>')), lines.join('\n'));
    });

    test('pull of a tag the registry does not have: image_not_found with a hint', async () => {
      const missing = `${registry.host}/hangar-test/app:missing`;
      tags.add(missing);
      await assert.rejects(
        pullImage(engine, missing, { auth: await authWith(PASSWORD) }),
        isUserErrorWith('image_not_found', (e) => {
          assert.equal(e.kind, 'not_found');
          assert.match(e.hint ?? '', /check the image name and tag/);
          assert.match(e.hint ?? '', /docker login/);
        }),
      );
    });

    test('pull with wrong credentials: image_pull_failed with a docker login hint', async () => {
      await assert.rejects(
        pullImage(engine, ref, { auth: await authWith(WRONG_PASSWORD) }),
        isUserErrorWith('image_pull_failed', (e) => {
          assert.equal(e.kind, 'unauthorized', e.message);
          assert.match(e.hint ?? '', /docker login/);
          assert.ok(!e.message.includes(WRONG_PASSWORD), e.message);
        }),
      );
    });
  });
}
