import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineClient, engineEndpoint, describeEndpoint } from '../src/runtime/docker/engine.js';
import { DOCKER_TOML, DOCKER_WORKER_TOML, dockerAppDir } from './fixtures/docker/app.js';
import { engineSocketProxy } from './fixtures/docker/engine-proxy.js';
import { startFakeRegistry } from './fixtures/fake-registry.js';
import { inGroup, loadLoop, proxyGet, startDaemon, waitUntil, type TestDaemon } from './helpers.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type M = { id: string; state: string; process_group: string; runtime: string; instance_id: string; image_ref: { registry: string; repository: string; tag: string; digest: string }; release_version: number | null; events: Array<{ type: string; status: string; request?: { exit_event?: { exit_code?: number } }; message?: string }> };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];
const releases = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/releases`)).body as Array<{ version: number; status: string }>;

const engine = new EngineClient(engineEndpoint());
const where = describeEndpoint(engine.endpoint);

interface ContainerSummary {
  Id: string;
  State: string;
  Labels: Record<string, string>;
}

/** The app's containers as the engine lists them (labels are how hangar finds its own). */
async function containers(app: string): Promise<ContainerSummary[]> {
  return engine.json<ContainerSummary[]>('GET', '/containers/json', { query: { all: 1, filters: JSON.stringify({ label: [`hangar.app=${app}`] }) } });
}

/**
 * Whatever a test leaves on the engine goes, by id: the app's containers, then its image tags. Register
 * it after the test's daemons start, so it runs once they are stopped (after hooks run in order).
 */
function cleanupEngine(t: { after(fn: () => unknown): void }, app: string): void {
  t.after(async () => {
    for (const c of await containers(app).catch(() => [])) await engine.text('DELETE', `/containers/${c.Id}`, { query: { force: true } }).catch(() => {});
    // Any registry: builds are tagged hangar.local/<app>, pushed ones <registry>/<app>.
    const images = await engine.json<Array<{ Id: string; RepoTags: string[] | null }>>('GET', '/images/json').catch(() => []);
    for (const i of images) if (i.RepoTags?.some((tag) => tag.includes(`/${app}:`))) await engine.text('DELETE', `/images/${i.Id}`, { query: { force: true } }).catch(() => {});
  });
}

// Runs everywhere: without an engine, a Docker app fails in one clear line that says how to get one.
test('Docker needed but no engine answers: one clear line with how to start one, nothing made', async (t) => {
  const d = await startDaemon(t, { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  const dir = dockerAppDir(t, DOCKER_TOML('nodock'));
  const r = await d.cliAsync(['deploy', dir]);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /^Error: no Docker Engine answers at unix:\/\/\/nonexistent\/docker\.sock \(ENOENT\)\nhint: start one with "dockerd --bridge=none"/m);
  const img = await d.cliAsync(['deploy', dir, '--image', 'busybox:1.36']);
  assert.equal(img.status, 1, img.stdout + img.stderr);
  assert.match(img.stderr, /^Error: image busybox:1\.36 is not in this daemon's image store, and running it as a Docker image needs a Docker Engine: no Docker Engine answers at unix:\/\/\/nonexistent\/docker\.sock/m);
  assert.match(img.stderr, /\nhint: start a Docker Engine/);
  assert.deepEqual(await releases(d, 'nodock'), []);
  assert.deepEqual(await machines(d, 'nodock'), []);
});

const bareEngine = !(await engine.ping());
const noBusybox = !existsSync('/bin/busybox');
if (bareEngine || noBusybox) {
  describe('Docker deploys', { skip: bareEngine ? `no Docker Engine at ${where} (start dockerd --bridge=none to run these)` : '/bin/busybox is missing (apt-get install busybox-static)' }, () => {});
} else {
  test('a Dockerfile app runs as containers: release command in the image, rolling redeploy and rollback under load drop nothing (with a worker group)', async (t) => {
    const d = await startDaemon(t);
    cleanupEngine(t, 'dock1');
    const dir = dockerAppDir(t, DOCKER_WORKER_TOML('dock1', '[deploy]\nrelease_command = "cat /www/built-in-image"\n'));
    const first = await d.cliAsync(['deploy', dir]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /Building image from .* with Docker \(Dockerfile\)/);
    assert.match(first.stdout, /release_command \| image-marker-from-the-build/, 'the release command ran in a container from the new image');
    const ms = await machines(d, 'dock1');
    assert.equal(inGroup(ms, 'web').length, 2);
    assert.equal(inGroup(ms, 'worker').length, 1);
    for (const m of ms) {
      assert.equal(m.runtime, 'docker');
      assert.equal(m.state, 'started');
      assert.equal(m.image_ref.registry, 'hangar.local');
      assert.equal(m.image_ref.repository, 'dock1');
      assert.match(m.image_ref.tag, /^deployment-[0-9A-Z]{26}$/);
      assert.match(m.image_ref.digest, /^sha256:[0-9a-f]{64}$/);
    }
    const running = (await containers('dock1')).filter((c) => c.State === 'running');
    assert.deepEqual(running.map((c) => c.Labels['hangar.machine']).sort(), ms.map((m) => m.id).sort(), 'one running container per machine, labelled with its id');
    assert.ok(running.every((c) => c.Labels['hangar.app'] === 'dock1'));
    const status = d.cli(['status', '-a', 'dock1']);
    assert.match(status.stdout, /RUNTIME/);
    assert.equal(status.stdout.match(/\sdocker\s/g)?.length, 3, status.stdout);
    assert.equal((await proxyGet(d, 'dock1.localhost')).text, 'v1');

    const load = loadLoop(d, 'dock1.localhost');
    await waitUntil(() => (load.counts.get(200) ?? 0) > 20, 10_000, 'load flowing');
    const staged = d.cli(['secrets', 'set', '--stage', 'DATABASE_URL=postgres://db.internal/app', '-a', 'dock1']);
    assert.equal(staged.status, 0, staged.stderr);
    const second = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2']);
    assert.equal(second.status, 0, second.stdout + second.stderr);
    await waitUntil(() => (load.bodies.get('v2') ?? 0) > 20, 10_000, 'v2 serving');
    const back = await d.cliAsync(['releases', 'rollback', '-a', 'dock1']);
    assert.equal(back.status, 0, back.stdout + back.stderr);
    await waitUntil(async () => (await proxyGet(d, 'dock1.localhost')).text === 'v1', 10_000, 'v1 serving again');
    const r = await load.stop();
    assert.equal(r.failed, 0, `failed requests: ${JSON.stringify(r.counts)}`);
    assert.ok(r.bodies.v1 && r.bodies.v2, `served both versions: ${JSON.stringify(r.bodies)}`);
    assert.deepEqual((await releases(d, 'dock1')).map((x) => x.status), ['complete', 'complete', 'complete']);

    // Everything a machine gets reaches the container: PORT, the Fly variables, secrets; the host's PATH does not.
    const m = inGroup(await machines(d, 'dock1'), 'web')[0]!;
    const env = (await proxyGet(d, 'dock1.localhost', {}, '/cgi-bin/env')).text;
    assert.match(env, /^FLY_APP_NAME=dock1$/m);
    assert.match(env, /^DATABASE_URL=postgres:\/\/db\.internal\/app$/m);
    assert.match(env, /^PORT=\d+$/m);
    assert.doesNotMatch(env, /HANGAR_API_TOKEN/);
    assert.equal((await containers('dock1')).filter((c) => c.State === 'running').length, 3, 'old containers are gone, not just stopped');
    const logs = d.cli(['logs', '--no-tail', '-n', '10000', '-a', 'dock1']);
    assert.match(logs.stdout, new RegExp(`app\\[${m.id}\\] ams \\[info\\] container listening on \\d+`));
  });

  test('kill -9 of the daemon leaves containers running; the next daemon adopts them; a crash after that restarts by hangar’s policy', async (t) => {
    const d = await startDaemon(t);
    cleanupEngine(t, 'dock2');
    const dir = dockerAppDir(t, DOCKER_TOML('dock2'));
    const first = await d.cliAsync(['deploy', dir]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const before = (await containers('dock2')).map((c) => c.Id).sort();
    assert.equal(before.length, 2);
    await d.kill9();
    assert.deepEqual((await containers('dock2')).filter((c) => c.State === 'running').map((c) => c.Id).sort(), before, 'containers outlive the daemon');
    const d2 = await d.restart();
    cleanupEngine(t, 'dock2'); // again, after the second daemon's cleanup: none is left to restart a container
    await waitUntil(async () => (await machines(d2, 'dock2')).every((m) => m.state === 'started'), 10_000, 'machines adopted');
    assert.deepEqual((await containers('dock2')).map((c) => c.Id).sort(), before, 'the same containers: none started twice, none left over');
    await waitUntil(async () => (await proxyGet(d2, 'dock2.localhost')).text === 'v1', 10_000, 'serving after adoption');

    // An adopted container that dies is seen (its exit code in the events) and restarted by hangar, not Docker.
    const victim = (await machines(d2, 'dock2'))[0]!;
    const c = (await containers('dock2')).find((x) => x.Labels['hangar.machine'] === victim.id)!;
    await engine.text('POST', `/containers/${c.Id}/kill`, { query: { signal: 'SIGKILL' } });
    await waitUntil(async () => {
      const m = (await machines(d2, 'dock2')).find((x) => x.id === victim.id)!;
      return m.state === 'started' && m.events.some((e) => e.type === 'exit' && e.request?.exit_event?.exit_code === 137);
    }, 15_000, 'the exit recorded and the machine restarted');
    const after = (await containers('dock2')).filter((x) => x.State === 'running');
    assert.equal(after.length, 2, 'one container per machine after the restart');
  });

  test('bad input: a missing image, a failing Dockerfile and a container that exits at once — clear errors, no release', async (t) => {
    const d = await startDaemon(t, { env: { HANGAR_DOCKER_PULL: 'missing' } });
    cleanupEngine(t, 'dock3');
    const dir = dockerAppDir(t, DOCKER_TOML('dock3'));
    // A registry on loopback where nothing listens: the engine's pull fails at once, nothing leaves this host.
    const missing = await d.cliAsync(['deploy', dir, '--image', '127.0.0.1:9/hangar-test/nope:v1']);
    assert.equal(missing.status, 1, missing.stdout + missing.stderr);
    assert.match(missing.stderr, /^Error: image 127\.0\.0\.1:9\/hangar-test\/nope:v1 is not in this daemon's image store, and /m);
    assert.match(missing.stderr, /\nhint: /);
    assert.doesNotMatch(missing.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await releases(d, 'dock3'), [], 'no release for an image that does not exist');

    const broken = dockerAppDir(t, DOCKER_TOML('dock3'), { dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo compiling the thing; echo step-broke-here >&2; exit 3"]\n' });
    const built = await d.cliAsync(['deploy', broken]);
    assert.equal(built.status, 1, built.stdout + built.stderr);
    assert.match(built.stdout, /build \| compiling the thing/, 'the build output is shown as it runs');
    assert.match(built.stderr, /^Error: docker build failed: .*returned a non-zero code: 3/m);
    assert.match(built.stderr, /step-broke-here/, 'the failing step’s output is in the error');
    assert.deepEqual(await releases(d, 'dock3'), [], 'no release for a failed build');
    assert.deepEqual(await machines(d, 'dock3'), []);

    const dying = dockerAppDir(t, DOCKER_TOML('dock3'), { dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "sh", "-c", "echo giving up; exit 3"]\n' });
    const crash = await d.cliAsync(['deploy', dying, '--wait-timeout', '20s']);
    assert.equal(crash.status, 1, crash.stdout + crash.stderr);
    assert.match(crash.stdout, /failed/);
    assert.deepEqual((await releases(d, 'dock3')).map((x) => x.status), ['failed']);
    await waitUntil(async () => (await machines(d, 'dock3')).every((m) => m.state === 'failed'), 20_000, 'crash loop detected');
    const m = (await machines(d, 'dock3'))[0]!;
    assert.ok(m.events.some((e) => e.type === 'exit' && e.request?.exit_event?.exit_code === 3), 'exit code 3 recorded');
    assert.ok(m.events.some((e) => /crash loop/.test(e.message ?? '')), JSON.stringify(m.events));
  });
}

if (!bareEngine && !noBusybox && engine.endpoint.kind === 'unix') {
  const target = engine.endpoint.socketPath;
  test('Docker going away mid-deploy: the deploy pauses with the reason, machines keep serving, and it completes when Docker is back', async (t) => {
    const sockDir = mkdtempSync(join(tmpdir(), 'hangar-engine-'));
    const proxy = await engineSocketProxy(join(sockDir, 'docker.sock'), target);
    t.after(async () => {
      await proxy.close();
      rmSync(sockDir, { recursive: true, force: true });
    });
    const d = await startDaemon(t, { env: { DOCKER_HOST: `unix://${join(sockDir, 'docker.sock')}` } });
    t.after(() => proxy.back().catch(() => {})); // the engine must answer while the daemon's cleanup runs
    cleanupEngine(t, 'dock4');
    const dir = dockerAppDir(t, DOCKER_TOML('dock4'));
    const first = await d.cliAsync(['deploy', dir]);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    const built = await d.cliAsync(['deploy', dir, '--build-only', '--json']);
    assert.equal(built.status, 0, built.stderr);
    const image = (JSON.parse(built.stdout) as { image: string }).image;

    await proxy.away();
    const submitted = await d.cliAsync(['deploy', dir, '--image', image, '-e', 'MESSAGE=v2', '--detach', '--json']);
    assert.equal(submitted.status, 0, submitted.stdout + submitted.stderr);
    const id = (JSON.parse(submitted.stdout) as { id: string }).id;
    const events = async () => (await d.api('GET', `/v1/deployments/${id}/events?follow=false`)).body as string;
    await waitUntil(async () => /the deploy is paused until the Docker Engine answers again/.test(await events()), 15_000, 'the pause announced');
    assert.match(await events(), /no Docker Engine answers at unix:\/\/\S+docker\.sock/, 'the reason is in the deploy’s events');
    assert.equal((await proxyGet(d, 'dock4.localhost')).text, 'v1', 'machines keep serving while the engine is away');
    assert.equal(((await d.api('GET', `/v1/deployments/${id}`)).body as { status: string }).status, 'running');

    await proxy.back();
    await waitUntil(async () => ((await d.api('GET', `/v1/deployments/${id}`)).body as { status: string }).status !== 'running', 30_000, 'the deploy finished');
    assert.equal(((await d.api('GET', `/v1/deployments/${id}`)).body as { status: string }).status, 'complete', await events());
    assert.match(await events(), /the Docker Engine answers again; resuming/);
    assert.ok((await machines(d, 'dock4')).every((m) => m.release_version === 2 && m.state === 'started'));
    await waitUntil(async () => (await proxyGet(d, 'dock4.localhost')).text === 'v2', 10_000, 'v2 serving');
    assert.equal((await containers('dock4')).filter((c) => c.State === 'running').length, 2, 'no container lost or left over');

    // A daemon that starts while the engine is away leaves its Docker machines as they are, and adopts them once it answers.
    await d.kill9();
    await proxy.away();
    const d2 = await d.restart();
    cleanupEngine(t, 'dock4');
    assert.ok((await machines(d2, 'dock4')).every((m) => m.state === 'started'), 'nothing marked failed or stopped for an outage');
    await waitUntil(async () => (await proxyGet(d2, 'dock4.localhost')).text === 'v2', 10_000, 'still serving while the engine is away');
    await proxy.back();
    const victim = (await machines(d2, 'dock4'))[0]!;
    const c = (await containers('dock4')).find((x) => x.Labels['hangar.machine'] === victim.id)!;
    // Once the engine answers (the daemon pings it every 500 ms), a container's death is noticed and the machine restarted.
    await new Promise((r) => setTimeout(r, 2500));
    await engine.text('POST', `/containers/${c.Id}/kill`, { query: { signal: 'SIGKILL' } });
    await waitUntil(async () => {
      const m = (await machines(d2, 'dock4')).find((x) => x.id === victim.id)!;
      return m.events.some((e) => e.type === 'exit' && e.request?.exit_event?.exit_code === 137);
    }, 15_000, 'the adopted container followed');
    await waitUntil(async () => (await containers('dock4')).filter((x) => x.State === 'running').length === 2, 15_000, 'restarted');
  });
}

if (!bareEngine && !noBusybox && process.env.HANGAR_TEST_DOCKER_NETWORK !== '1') {
  describe('Docker published-port mode', { skip: 'needs a container network (Docker’s bridge); set HANGAR_TEST_DOCKER_NETWORK=1 where the test may create one' }, () => {});
} else if (!bareEngine && !noBusybox) {
  test('published-port mode: an image on a fixed internal_port is published on a loopback port and served through the proxy', async (t) => {
    const d = await startDaemon(t);
    cleanupEngine(t, 'dock5');
    const dir = dockerAppDir(t, DOCKER_TOML('dock5', '[docker]\nnetwork = "published"\n'));
    const r = await d.cliAsync(['deploy', dir]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal((await proxyGet(d, 'dock5.localhost')).text, 'v1');
    const env = (await proxyGet(d, 'dock5.localhost', {}, '/cgi-bin/env')).text;
    assert.match(env, /^PORT=8080$/m, 'the container listens on internal_port');
    const ms = await machines(d, 'dock5');
    const c = (await containers('dock5'))[0]!;
    const j = await engine.json<{ HostConfig: { NetworkMode: string; PortBindings: Record<string, Array<{ HostIp: string; HostPort: string }>> } }>('GET', `/containers/${c.Id}/json`);
    assert.notEqual(j.HostConfig.NetworkMode, 'host');
    assert.equal(j.HostConfig.PortBindings['8080/tcp']?.[0]?.HostIp, '127.0.0.1');
    const published = j.HostConfig.PortBindings['8080/tcp']?.[0]?.HostPort;
    assert.ok(ms.some((m) => (m as unknown as { address: string }).address === `127.0.0.1:${published}`), 'the machine is reached on the published port');
  });
}

if (!bareEngine && !noBusybox) {
  test('--build-only --push sends a Dockerfile build to [build] registry with the user’s Docker credentials; --image pulls it back and runs it', async (t) => {
    const registry = await startFakeRegistry({ user: 'deployer', password: 's3cret-pass' });
    t.after(() => registry.close());
    const dockerConfig = mkdtempSync(join(tmpdir(), 'hangar-docker-config-'));
    t.after(() => rmSync(dockerConfig, { recursive: true, force: true }));
    writeFileSync(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('deployer:s3cret-pass').toString('base64') } } }));
    const d = await startDaemon(t, { env: { DOCKER_CONFIG: dockerConfig, HANGAR_DOCKER_PULL: 'missing' } });
    cleanupEngine(t, 'dock6b'); // first: its containers run the dock6 image, which goes after them
    cleanupEngine(t, 'dock6');
    const noRegistry = dockerAppDir(t, DOCKER_TOML('dock6'));
    const refused = await d.cliAsync(['deploy', noRegistry, '--build-only', '--push']);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^Error: --push needs a registry to push to\nhint: name one in hangar\.toml: \[build\] registry/m);

    const dir = dockerAppDir(t, DOCKER_TOML('dock6', `[build]\nregistry = "${registry.host}"\n`));
    const pushed = await d.cliAsync(['deploy', dir, '--build-only', '--push']);
    assert.equal(pushed.status, 0, pushed.stdout + pushed.stderr);
    const ref = /^image: (\S+)$/m.exec(pushed.stdout)?.[1] ?? '';
    assert.ok(ref.startsWith(`${registry.host}/dock6:deployment-`), pushed.stdout);
    assert.match(pushed.stdout, /==> Pushed .* \(sha256:[0-9a-f]{64}\)/);
    const tag = ref.slice(ref.lastIndexOf(':') + 1);
    assert.ok(registry.manifests().some((m) => m.name === 'dock6' && m.reference === tag), JSON.stringify(registry.manifests()));
    assert.ok(registry.authHeadersSeen.includes(`Basic ${Buffer.from('deployer:s3cret-pass').toString('base64')}`), 'the credentials from the Docker config reached the registry');
    assert.doesNotMatch(pushed.stdout + pushed.stderr, /s3cret-pass/);

    // Gone from the engine, deployed by reference: the engine pulls it from the registry.
    await engine.text('DELETE', `/images/${encodeURIComponent(ref)}`, { query: { force: true } });
    const other = dockerAppDir(t, DOCKER_TOML('dock6b'));
    const deployed = await d.cliAsync(['deploy', other, '--image', ref]);
    assert.equal(deployed.status, 0, deployed.stdout + deployed.stderr);
    const ms = await machines(d, 'dock6b');
    assert.ok(ms.length === 2 && ms.every((m) => m.runtime === 'docker' && m.image_ref.registry === registry.host && m.image_ref.repository === 'dock6' && m.image_ref.tag === tag));
    assert.equal((await proxyGet(d, 'dock6b.localhost')).text, 'v1');
  });
}
