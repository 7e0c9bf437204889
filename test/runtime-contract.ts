import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ulid } from 'ulid';
import type { InstanceExit, InstanceSpec, RuntimeDriver } from '../src/runtime/driver.js';

/**
 * The contract every RuntimeDriver must meet. A driver's test file calls `runtimeContract` with a
 * factory; the suite only uses what every runtime has: `sh`, `sleep`, `echo`, `trap`.
 */
export interface DriverFixture {
  /** A fresh driver over `root`; called again with the same root to simulate a daemon restart. */
  make(root: string): RuntimeDriver;
  /** The image every test instance runs. */
  image(): Promise<InstanceSpec['image']>;
}

export function runtimeContract(name: string, fx: DriverFixture): void {
  describe(`RuntimeDriver contract: ${name}`, () => {
    let seq = 0;
    const setup = async (t: { after(fn: () => unknown): void }) => {
      const root = mkdtempSync(join(tmpdir(), 'hangar-rt-'));
      const drivers: RuntimeDriver[] = [];
      const live: InstanceSpec[] = [];
      const make = () => {
        const d = fx.make(root);
        drivers.push(d);
        return d;
      };
      t.after(async () => {
        const d = fx.make(root);
        for (const s of live) await d.stop(s, { signal: 'SIGKILL', timeoutMs: 1000 }).catch(() => {});
        for (const x of [...drivers, d]) await x.dispose();
        rmSync(root, { recursive: true, force: true });
      });
      const image = await fx.image();
      const spec = (cmd: string[], machineId = `m${++seq}${Date.now().toString(36)}`): InstanceSpec => {
        const s: InstanceSpec = { machineId, instanceId: ulid(), appName: 'contract', image, cmd, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PORT: '0' }, port: 0 };
        live.push(s);
        return s;
      };
      return { make, spec, root };
    };
    const nextExit = (d: RuntimeDriver, instanceId: string, ms = 10_000) =>
      new Promise<InstanceExit>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no exit of ${instanceId} within ${ms} ms`)), ms);
        const off = d.onExit((e) => {
          if (e.instanceId !== instanceId) return;
          clearTimeout(timer);
          off();
          resolve(e);
        });
      });

    test('start runs the command with its env; status says running', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const s = spec(['sh', '-c', 'echo "port=$PORT"; exec sleep 30']);
      s.env.PORT = '4321';
      await d.start(s);
      assert.equal((await d.status(s)).state, 'running');
      await waitUntil(() => readFileSync(d.logFiles(s.machineId).stdout, 'utf8').includes('port=4321'));
    });

    test('an instance that exits on its own reports its exit code, not as requested', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const s = spec(['sh', '-c', 'echo bye >&2; exit 3']);
      const exited = nextExit(d, s.instanceId);
      await d.start(s);
      const e = await exited;
      assert.equal(e.exitCode, 3);
      assert.equal(e.requested, false);
      assert.deepEqual(await d.status(s), { state: 'exited', exitCode: 3, signal: null });
      await waitUntil(() => readFileSync(d.logFiles(s.machineId).stderr, 'utf8').includes('bye'));
    });

    test('stop sends the signal, and the exit is marked requested', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const s = spec(['sh', '-c', 'trap "echo got-int; exit 0" INT; echo ready; while true; do sleep 0.05; done']);
      await d.start(s);
      await waitUntil(() => readFileSync(d.logFiles(s.machineId).stdout, 'utf8').includes('ready'));
      const e = await d.stop(s, { signal: 'SIGINT', timeoutMs: 5000 });
      assert.equal(e?.requested, true);
      assert.equal(e?.exitCode, 0);
      assert.equal((await d.status(s)).state, 'exited');
      assert.match(readFileSync(d.logFiles(s.machineId).stdout, 'utf8'), /got-int/);
    });

    test('stop escalates to SIGKILL after the timeout', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const s = spec(['sh', '-c', 'trap "" INT TERM; echo ready; while true; do sleep 0.05; done']);
      await d.start(s);
      await waitUntil(() => readFileSync(d.logFiles(s.machineId).stdout, 'utf8').includes('ready'));
      const t0 = Date.now();
      const e = await d.stop(s, { signal: 'SIGTERM', timeoutMs: 300 });
      const took = Date.now() - t0;
      assert.ok(took >= 300 && took < 5000, `stop took ${took} ms`);
      assert.equal(e?.requested, true);
      assert.notEqual(e?.exitCode, 0);
      assert.equal((await d.status(s)).state, 'exited');
    });

    test('a stop the runtime cannot carry out fails, leaves the instance running, and its later exit is not marked requested', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const s = spec(['sh', '-c', 'while [ ! -f "$FLAG" ]; do sleep 0.05; done; exit 5']);
      const flag = join(mkdtempSync(join(tmpdir(), 'hangar-flag-')), 'go');
      t.after(() => rmSync(join(flag, '..'), { recursive: true, force: true }));
      s.env.FLAG = flag;
      await d.start(s);
      // Not a signal either runtime can deliver: the process runtime's kill(2) and the engine both refuse it.
      await assert.rejects(d.stop(s, { signal: 'SIGBOGUS' as NodeJS.Signals, timeoutMs: 1000 }));
      assert.equal((await d.status(s)).state, 'running');
      const exited = nextExit(d, s.instanceId);
      (await import('node:fs')).writeFileSync(flag, '');
      const e = await exited;
      assert.equal(e.exitCode, 5);
      assert.equal(e.requested, false, 'an exit after a failed stop is the instance’s own');
    });

    test('two instances of one machine run side by side', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      const a = spec(['sleep', '30'], 'twin');
      const b = spec(['sleep', '30'], 'twin');
      await d.start(a);
      await d.start(b);
      assert.equal((await d.status(a)).state, 'running');
      assert.equal((await d.status(b)).state, 'running');
      await d.stop(a, { signal: 'SIGTERM', timeoutMs: 2000 });
      assert.equal((await d.status(a)).state, 'exited');
      assert.equal((await d.status(b)).state, 'running');
    });

    test('a new driver over the same root adopts live instances and sees them exit', async (t) => {
      const { make, spec } = await setup(t);
      const first = make();
      const s = spec(['sh', '-c', 'while [ ! -f "$FLAG" ]; do sleep 0.05; done; exit 7']);
      const flag = join(mkdtempSync(join(tmpdir(), 'hangar-flag-')), 'go');
      t.after(() => rmSync(join(flag, '..'), { recursive: true, force: true }));
      s.env.FLAG = flag;
      await first.start(s);
      await first.dispose(); // the daemon goes away; the instance keeps running
      const second = make();
      const st = await second.adopt(s);
      assert.equal(st.state, 'running');
      assert.deepEqual((await second.list()).filter((r) => r.instanceId === s.instanceId), [{ machineId: s.machineId, instanceId: s.instanceId }]);
      const exited = nextExit(second, s.instanceId);
      (await import('node:fs')).writeFileSync(flag, '');
      const e = await exited;
      assert.equal(e.exitCode, 7);
    });

    test('an instance that died while nobody watched is reported exited', async (t) => {
      const { make, spec } = await setup(t);
      const first = make();
      const s = spec(['sh', '-c', 'sleep 0.1; exit 5']);
      const exited = nextExit(first, s.instanceId);
      await first.start(s);
      await exited;
      await first.dispose();
      const second = make();
      assert.deepEqual(await second.adopt(s), { state: 'exited', exitCode: 5, signal: null });
    });

    test('unknown instances are missing; remove clears an exited one', async (t) => {
      const { make, spec } = await setup(t);
      const d = make();
      assert.deepEqual(await d.status({ machineId: 'nope', instanceId: 'nope' }), { state: 'missing' });
      const s = spec(['true']);
      const exited = nextExit(d, s.instanceId);
      await d.start(s);
      await exited;
      await d.remove(s);
      assert.deepEqual(await d.status(s), { state: 'missing' });
      await d.removeMachine(s.machineId);
      assert.deepEqual((await d.list()).filter((r) => r.machineId === s.machineId), []);
    });
  });
}

export async function waitUntil(fn: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
