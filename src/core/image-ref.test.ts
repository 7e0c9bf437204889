import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  familiarRepository,
  formatImageReference,
  imageName,
  InvalidImageRefError,
  isDockerHub,
  isImageDigest,
  isImageTag,
  isRegistryHost,
  isRegistryPrefix,
  parseImageRef,
  parseRegistryPrefix,
  tryParseImageRef,
  type ParsedImageRef,
} from './image-ref.js';
import { DEFAULT_REGISTRY, formatImageRef } from './types.js';

const D = `sha256:${'0123456789abcdef'.repeat(4)}`;

function ref(registry: string, repository: string, more: Partial<ParsedImageRef> = {}): ParsedImageRef {
  return { registry, repository, explicitRegistry: true, ...more };
}

/** Asserts `input` is refused, and that the reason names what is wrong. */
function refused(input: string, reason: RegExp): void {
  assert.throws(
    () => parseImageRef(input),
    (err: unknown) => {
      assert.ok(err instanceof InvalidImageRefError, `${input}: ${String(err)}`);
      assert.equal(err.code, 'invalid_image_ref');
      assert.equal(err.kind, 'invalid');
      assert.match(err.reason, reason, input);
      assert.ok(err.message.startsWith(`${JSON.stringify(input)} is not a valid image reference: `), err.message);
      assert.match(err.hint ?? '', /registry\/\]repository/);
      return true;
    },
  );
  assert.equal(tryParseImageRef(input), undefined);
}

describe('parseImageRef: the forms Docker accepts', () => {
  test('a bare name is a Docker Hub official image at latest', () => {
    assert.deepEqual(parseImageRef('nginx'), ref('docker.io', 'library/nginx', { tag: 'latest', explicitRegistry: false }));
    assert.deepEqual(parseImageRef('nginx:1.25-alpine'), ref('docker.io', 'library/nginx', { tag: '1.25-alpine', explicitRegistry: false }));
  });

  test('user/app is a Docker Hub repository without library/', () => {
    assert.deepEqual(parseImageRef('user/app'), ref('docker.io', 'user/app', { tag: 'latest', explicitRegistry: false }));
    assert.deepEqual(parseImageRef('user/team/app:v2'), ref('docker.io', 'user/team/app', { tag: 'v2', explicitRegistry: false }));
  });

  test('docker.io and the legacy index.docker.io are the same registry, named explicitly', () => {
    assert.deepEqual(parseImageRef('docker.io/nginx'), ref('docker.io', 'library/nginx', { tag: 'latest' }));
    assert.deepEqual(parseImageRef('docker.io/library/nginx:1'), ref('docker.io', 'library/nginx', { tag: '1' }));
    assert.deepEqual(parseImageRef('index.docker.io/user/app'), ref('docker.io', 'user/app', { tag: 'latest' }));
  });

  test('a digest pins the manifest; without a tag none is assumed', () => {
    assert.deepEqual(parseImageRef(`nginx@${D}`), ref('docker.io', 'library/nginx', { digest: D, explicitRegistry: false }));
    assert.deepEqual(parseImageRef(`ghcr.io/a/b:v2@${D}`), ref('ghcr.io', 'a/b', { tag: 'v2', digest: D }));
  });

  test('a first component with a dot, a port, or localhost is the registry', () => {
    assert.deepEqual(parseImageRef('registry.example.com:5000/a/b:tag'), ref('registry.example.com:5000', 'a/b', { tag: 'tag' }));
    assert.deepEqual(parseImageRef('localhost/x'), ref('localhost', 'x', { tag: 'latest' }));
    assert.deepEqual(parseImageRef('localhost:5000/x'), ref('localhost:5000', 'x', { tag: 'latest' }));
    assert.deepEqual(parseImageRef('127.0.0.1:5000/x:y'), ref('127.0.0.1:5000', 'x', { tag: 'y' }));
    assert.deepEqual(parseImageRef('[::1]:5000/team/app'), ref('[::1]:5000', 'team/app', { tag: 'latest' }));
    assert.deepEqual(parseImageRef('Registry.Example.COM/app'), ref('Registry.Example.COM', 'app', { tag: 'latest' }), 'host names are not case-sensitive');
  });

  test("a port is never taken for a tag: the tag follows the last '/'", () => {
    assert.deepEqual(parseImageRef('127.0.0.1:5000/team/app'), ref('127.0.0.1:5000', 'team/app', { tag: 'latest' }));
    // Without a slash the colon can only start a tag, as for Docker.
    assert.deepEqual(parseImageRef('localhost:5000'), ref('docker.io', 'library/localhost', { tag: '5000', explicitRegistry: false }));
  });

  test("hangar's own names parse like any other and format back to themselves", () => {
    const own = parseImageRef(`${DEFAULT_REGISTRY}/myapp:deployment-01J9ZX3Q`);
    assert.deepEqual(own, ref(DEFAULT_REGISTRY, 'myapp', { tag: 'deployment-01J9ZX3Q' }));
    const stored = { registry: own.registry, repository: own.repository, tag: own.tag! };
    assert.equal(formatImageReference(own), formatImageRef(stored));
    assert.equal(formatImageReference(own), `${DEFAULT_REGISTRY}/myapp:deployment-01J9ZX3Q`);
  });

  test('separators inside path components: dots, single and double underscores, runs of dashes', () => {
    assert.equal(parseImageRef('team/a.b_c__d---e/f-g').repository, 'team/a.b_c__d---e/f-g');
    assert.equal(parseImageRef('ghcr.io/a.b_c__d---e').repository, 'a.b_c__d---e');
  });

  test('whitespace around a reference is ignored', () => {
    assert.deepEqual(parseImageRef(' nginx:1\n'), parseImageRef('nginx:1'));
  });

  test('uppercase tags are fine, as are tags of 128 characters', () => {
    assert.equal(parseImageRef('app:V1_Final').tag, 'V1_Final');
    assert.equal(parseImageRef(`app:${'t'.repeat(128)}`).tag, 't'.repeat(128));
  });
});

describe('parseImageRef: what it refuses, and why', () => {
  test('uppercase repository names', () => {
    refused('Nginx', /must be lowercase/);
    refused('ghcr.io/Acme/app:v1', /"Acme\/app" must be lowercase/);
    refused('MyOrg/app', /must be lowercase/);
  });

  test('invalid characters and separators', () => {
    refused('my app', /whitespace/);
    refused('app:v1 @sha256:x', /whitespace/);
    refused('app!', /path component "app!"/);
    refused('-app', /path component "-app"/);
    refused('app_', /path component "app_"/);
    refused('a___b', /path component "a___b"/);
    refused('team//app', /empty path component/);
    refused('team/app/', /empty path component/);
  });

  test('empty pieces', () => {
    refused('', /empty/);
    refused('   ', /empty/);
    refused('app:', /tag after ':' is empty/);
    refused(':v1', /repository name is empty/);
    refused(`@${D}`, /repository name is empty/);
    refused('ghcr.io/', /repository name is empty/);
  });

  test('bad tags and digests', () => {
    refused('app:.hidden', /tag ".hidden" is not valid/);
    refused('app:-x', /tag "-x"/);
    refused(`app:${'t'.repeat(129)}`, /is not valid/);
    refused('app@sha256:short', /digest "sha256:short" is not sha256:<64/);
    refused(`app@${D.toUpperCase().replace('SHA256', 'sha256')}`, /lowercase hex/);
    refused(`app@md5:${'a'.repeat(32)}`, /not sha256/);
    refused(`app@${D}@${D}`, /more than one '@'/);
  });

  test('bad registry hosts', () => {
    refused('-bad.example.com/app', /registry "-bad.example.com" is not a valid host/);
    refused('a..b/app', /registry "a..b"/);
    refused('host:99999/app', /registry "host:99999"/);
    refused('host:port/app', /registry "host:port"/);
  });

  test('an image id is not a name, and names have a length limit', () => {
    refused('0123456789abcdef'.repeat(4), /image id, not a name/);
    refused(`ghcr.io/${'a'.repeat(250)}`, /longer than 255/);
  });
});

describe('formatting', () => {
  test('the normalized form is what the engine accepts; familiar drops docker.io/ and library/', () => {
    const nginx = parseImageRef('nginx');
    assert.equal(formatImageReference(nginx), 'docker.io/library/nginx:latest');
    assert.equal(formatImageReference(nginx, 'familiar'), 'nginx:latest');
    assert.equal(imageName(nginx, 'familiar'), 'nginx');
    assert.equal(formatImageReference(parseImageRef('user/app:v1'), 'familiar'), 'user/app:v1');
    assert.equal(formatImageReference(parseImageRef(`ghcr.io/a/b:v2@${D}`), 'familiar'), `ghcr.io/a/b:v2@${D}`);
    assert.equal(formatImageReference(parseImageRef(`nginx@${D}`)), `docker.io/library/nginx@${D}`);
  });

  test('every accepted form formats to a reference that parses back to the same value', () => {
    for (const input of ['nginx', 'user/app:v1', `a/b@${D}`, 'localhost/x', '127.0.0.1:5000/x:y', 'registry.example.com:5000/a/b:tag', `hangar.local/app:v1@${D}`]) {
      const parsed = parseImageRef(input);
      for (const form of ['normalized', 'familiar'] as const) {
        const again = parseImageRef(formatImageReference(parsed, form));
        assert.deepEqual({ ...again, explicitRegistry: false }, { ...parsed, explicitRegistry: false }, `${input} (${form})`);
      }
    }
  });

  test('familiarRepository strips library/ only from Docker Hub one-component names', () => {
    assert.equal(familiarRepository(parseImageRef('nginx')), 'nginx');
    assert.equal(familiarRepository(parseImageRef('library/team/app')), 'library/team/app');
    assert.equal(familiarRepository(parseImageRef('ghcr.io/library/app')), 'library/app');
  });
});

describe('pieces', () => {
  test('tags, digests, hosts', () => {
    assert.ok(isImageTag('deployment-01J9ZX3Q') && isImageTag('v1.2_3') && !isImageTag('.x') && !isImageTag('a/b') && !isImageTag(''));
    assert.ok(isImageDigest(D) && !isImageDigest('sha256:abc') && !isImageDigest(D.slice(7)));
    assert.ok(isRegistryHost('ghcr.io') && isRegistryHost('localhost:5000') && isRegistryHost('[fe80::1]') && isRegistryHost('10.0.0.1:443'));
    assert.ok(!isRegistryHost('') && !isRegistryHost('a_b.com') && !isRegistryHost('host:') && !isRegistryHost('host:65536'));
  });

  test('Docker Hub goes by several names', () => {
    for (const name of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO']) assert.ok(isDockerHub(name), name);
    assert.ok(!isDockerHub('ghcr.io') && !isDockerHub('docker.example.com'));
  });

  test('registry prefixes: a host, optionally a port and a namespace', () => {
    assert.deepEqual(parseRegistryPrefix('ghcr.io/myorg'), { registry: 'ghcr.io', namespace: 'myorg' });
    assert.deepEqual(parseRegistryPrefix('127.0.0.1:5000'), { registry: '127.0.0.1:5000' });
    assert.deepEqual(parseRegistryPrefix('localhost/a/b'), { registry: 'localhost', namespace: 'a/b' });
    assert.deepEqual(parseRegistryPrefix(DEFAULT_REGISTRY), { registry: DEFAULT_REGISTRY });
    for (const bad of ['myorg', 'ghcr.io/', 'ghcr.io/MyOrg', 'ghcr.io/a b', '', 'host:port', 'ghcr.io:70000/x']) {
      assert.equal(isRegistryPrefix(bad), false, bad);
      assert.throws(() => parseRegistryPrefix(bad), (e: { code?: string; message?: string }) => e.code === 'invalid_registry' && e.message!.includes(JSON.stringify(bad)));
    }
  });
});
