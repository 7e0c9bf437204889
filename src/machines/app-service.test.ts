import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isUserError, type UserError } from '../core/errors.js';
import { openState } from '../state/index.js';
import { AppService, type DedicatedPorts } from './app-service.js';
import type { MachineService } from './machine-service.js';

/** An AppService on a temp state, with a proxy stand-in that refuses the ports it is told to. */
async function setup(t: { after(fn: () => unknown): void }, refuse: Awaited<ReturnType<DedicatedPorts['open']>>) {
  const home = mkdtempSync(join(tmpdir(), 'hangar-apps-'));
  const state = await openState(join(home, 'state.db'));
  t.after(async () => {
    await state.close();
    rmSync(home, { recursive: true, force: true });
  });
  const opened: number[][] = [];
  const applied: Array<number[] | undefined> = [];
  const ports: DedicatedPorts = {
    reserved: () => new Map([[4280, 'the hangar API']]),
    open: async (_app, p) => {
      opened.push(p);
      return refuse.filter((r) => p.includes(r.port));
    },
  };
  // Routing changes never touch machines.
  const apps = new AppService({ state, machines: {} as MachineService, ports, onRouting: (_a, r) => applied.push(r.ports) });
  await apps.create('web');
  return { apps, opened, applied };
}

async function refusal(p: Promise<unknown>): Promise<UserError> {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(isUserError(err), String(err));
  return err;
}

test('a port that needs privileges the daemon lacks is a 400 naming it; one in use a 409; neither is stored', async (t) => {
  const { apps, opened, applied } = await setup(t, [
    { port: 80, reason: 'privileged', message: 'port 80 needs privileges the daemon does not have' },
    { port: 9000, reason: 'in_use', message: 'port 9000 is in use on this host' },
  ]);
  const privileged = await refusal(apps.setRouting('web', { ports: [8080, 80] }));
  assert.equal(privileged.kind, 'invalid');
  assert.deepEqual(privileged.details.map((d) => [d.path, d.value]), [['ports[1]', 80]]);
  const inUse = await refusal(apps.setRouting('web', { ports: [9000] }));
  assert.equal(inUse.kind, 'conflict');
  assert.equal(inUse.code, 'port_in_use');
  assert.deepEqual(inUse.details.map((d) => d.path), ['ports[0]']);
  const own = await refusal(apps.setRouting('web', { ports: [4280] }));
  assert.equal(own.code, 'port_in_use');
  assert.match(own.message, /hangar API/);
  assert.deepEqual(opened, [[8080, 80], [9000]], 'the daemon’s own port is refused without trying it');
  assert.deepEqual(applied, [], 'nothing refused reached the proxy');
  assert.deepEqual((await apps.get('web')).app.routing, {});
});

test('ports are only checked when the change sets them: a traffic shift keeps working with a port that failed', async (t) => {
  const { apps, opened } = await setup(t, []);
  await apps.setRouting('web', { ports: [8080] });
  await apps.setRouting('web', { sets: [{ name: 'a', machines: [], weight: 1 }] });
  await apps.setRouting('web', { ports: null });
  assert.deepEqual(opened, [[8080]]);
  const repeated = await refusal(apps.setRouting('web', { ports: [8081, 8082, 8081] }));
  assert.deepEqual(repeated.details.map((d) => d.path), ['ports[2]']);
});
