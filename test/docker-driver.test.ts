import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ulid } from 'ulid';
import type { InstanceSpec } from '../src/runtime/driver.js';
import { UserError } from '../src/core/errors.js';
import { pullImage } from '../src/runtime/docker/distribution.js';
import { DockerDriver } from '../src/runtime/docker/docker-driver.js';
import { DockerImages } from '../src/runtime/docker/images.js';
import { describeEndpoint, EngineClient, engineEndpoint } from '../src/runtime/docker/engine.js';
import { busyboxImage } from './fixtures/docker/busybox-image.js';
import { runtimeContract, waitUntil } from './runtime-contract.js';

const engine = new EngineClient(engineEndpoint());
const where = engine.endpoint.kind === 'unix' ? engine.endpoint.socketPath : describeEndpoint(engine.endpoint);

if (!(await engine.ping())) {
  describe('RuntimeDriver contract: docker', { skip: `no Docker Engine at ${where} (start dockerd --bridge=none to run these)` }, () => {});
} else {
  // Every container a test starts is removed by id once the file is done (the contract only stops them).
  const created = new Set<string>();
  after(async () => {
    for (const id of created) await engine.text('DELETE', `/containers/${id}`, { query: { force: true } }).catch(() => {});
  });

  const track = (d: DockerDriver): DockerDriver => {
    const start = d.start.bind(d);
    d.start = async (spec: InstanceSpec) => {
      try {
        await start(spec);
      } finally {
        const c = await engine
          .json<{ Id: string }>('GET', `/containers/hangar-${spec.machineId}-${spec.instanceId}/json`)
          .catch(() => undefined);
        if (c) created.add(c.Id);
      }
    };
    return d;
  };

  // The adoption tests signal their instance through a flag file under the host's tmpdir: the
  // containers see that directory read-only, at the same path.
  const make = (root: string) => track(new DockerDriver({ root, engine, binds: [`${tmpdir()}:${tmpdir()}:ro`], retryMs: 100 }));

  runtimeContract('docker', { make, image: () => busyboxImage(engine) });

  describe('DockerDriver', () => {
    const setup = async (t: { after(fn: () => unknown): void }, cmd: string[]) => {
      const root = mkdtempSync(join(tmpdir(), 'hangar-docker-'));
      const drivers: DockerDriver[] = [];
      const spec: InstanceSpec = {
        machineId: `d${Date.now().toString(36)}`,
        instanceId: ulid(),
        appName: 'docker-test',
        image: await busyboxImage(engine),
        cmd,
        env: { PATH: '/bin', PORT: '0', FLAG: join(root, 'go') },
        port: 0,
      };
      t.after(async () => {
        for (const d of drivers) await d.dispose();
        rmSync(root, { recursive: true, force: true });
      });
      const driver = () => {
        const d = make(root);
        drivers.push(d);
        return d;
      };
      return { root, spec, driver };
    };

    test('a command the image does not have: the engine refuses the start, a container_start_failed UserError (400), nothing left', async (t) => {
      const { root, spec } = await setup(t, ['/nonexistent-command']);
      // Without docker-init the engine itself execs the command, so it refuses the start (with init, PID 1 starts and the command exits 127).
      const d = track(new DockerDriver({ root, engine, init: false }));
      t.after(() => d.dispose());
      await assert.rejects(d.start(spec), (e: unknown) => {
        assert.ok(e instanceof UserError, String(e));
        assert.equal(e.code, 'container_start_failed');
        assert.equal(e.kind, 'invalid');
        assert.match(e.message, /nonexistent-command/);
        return true;
      });
      assert.deepEqual(await d.status(spec), { state: 'missing' });
    });

    test('a name the engine refuses is invalid_image_ref (400) on lookup and on pull, not an engine failure', async () => {
      const images = new DockerImages(engine, { pull: 'never' });
      const invalid = (e: unknown) => e instanceof UserError && e.code === 'invalid_image_ref' && e.kind === 'invalid';
      await assert.rejects(images.inspect('[::1]:5000/x:1'), invalid);
      // The engine refuses the name before any registry is asked: nothing leaves this host.
      await assert.rejects(pullImage(engine, '[::1]:5000/x:1'), invalid);
    });

    test('containers are labelled, on the host network, without a Docker restart policy', async (t) => {
      const { spec, driver } = await setup(t, ['sleep', '30']);
      const d = driver();
      await d.start(spec);
      try {
        const c = await engine.json<any>('GET', `/containers/hangar-${spec.machineId}-${spec.instanceId}/json`);
        assert.deepEqual(c.Config.Labels, { 'hangar.machine': spec.machineId, 'hangar.instance': spec.instanceId, 'hangar.app': 'docker-test' });
        assert.equal(c.HostConfig.NetworkMode, 'host');
        assert.equal(c.HostConfig.RestartPolicy.Name, 'no');
        assert.ok(c.Config.Env.includes('PORT=0'));
      } finally {
        await d.stop(spec, { signal: 'SIGKILL', timeoutMs: 1000 });
      }
    });

    test('after a daemon restart, logs resume where the file ends: nothing twice, nothing lost', async (t) => {
      const { root, spec, driver } = await setup(t, ['sh', '-c', 'echo one; echo err-one >&2; while [ ! -f "$FLAG" ]; do sleep 0.05; done; echo two; echo err-two >&2; exit 4']);
      const first = driver();
      await first.start(spec);
      const files = first.logFiles(spec.machineId);
      await waitUntil(() => readFileSync(files.stdout, 'utf8') === 'one\n' && readFileSync(files.stderr, 'utf8') === 'err-one\n');
      await first.dispose();
      const second = driver();
      assert.equal((await second.adopt(spec)).state, 'running');
      // Following never holds the event loop open (like the process runtime's), so the wait carries its deadline.
      const exited = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no exit within 10 s')), 10_000);
        second.onExit((e) => (clearTimeout(timer), resolve(e)));
      });
      writeFileSync(join(root, 'go'), '');
      await exited;
      assert.equal(readFileSync(files.stdout, 'utf8'), 'one\ntwo\n');
      assert.equal(readFileSync(files.stderr, 'utf8'), 'err-one\nerr-two\n');
      // A third daemon adopting the exited instance catches up on nothing: the files stay as they are.
      assert.deepEqual(await driver().adopt(spec), { state: 'exited', exitCode: 4, signal: null });
      assert.equal(readFileSync(files.stdout, 'utf8'), 'one\ntwo\n');
    });

    test('a missing image is a UserError', async (t) => {
      const { spec, driver } = await setup(t, ['true']);
      spec.image = { ref: 'hangar.local/no-such-image:nope', digest: '' };
      await assert.rejects(driver().start(spec), { name: 'UserError', code: 'image_missing' });
    });
  });
}
