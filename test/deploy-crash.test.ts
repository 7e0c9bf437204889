import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appDir, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';

type M = { id: string; state: string; release_version: number | null };
const machines = async (d: TestDaemon, app: string) => (await d.api('GET', `/v1/apps/${app}/machines`)).body as M[];

/** Deploys v1 on 4 machines (2 made by the first deploy, 2 clones), starts v2 detached, kills the daemon with -9 when `point` says, restarts. */
async function crashDuring(t: Parameters<typeof startDaemon>[0], app: string, extraToml: string, point: (d: TestDaemon, id: string) => Promise<void>) {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML(app, extraToml));
  assert.equal((await d.cliAsync(['deploy', dir, '--skip-release-command'])).status, 0);
  const m0 = (await machines(d, app))[0]!;
  for (let i = 0; i < 2; i++) assert.equal(d.cli(['machines', 'clone', m0.id, '-a', app]).status, 0);
  const r = await d.cliAsync(['deploy', dir, '-e', 'MESSAGE=v2', '--detach', '--max-unavailable', '1', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const id = JSON.parse(r.stdout).id as string;
  await point(d, id);
  await d.kill9();
  const d2 = await d.restart();
  await waitUntil(async () => (await d2.api('GET', `/v1/deployments/${id}`)).body.status !== 'running', 60_000, 'the deploy to finish after the restart');
  const dep = (await d2.api('GET', `/v1/deployments/${id}`)).body;
  const ms = await machines(d2, app);
  const versions = new Set(ms.map((m) => m.release_version));
  assert.equal(versions.size, 1, `every machine on one release: ${JSON.stringify(ms.map((m) => [m.id, m.release_version, m.state]))}`);
  assert.ok(ms.every((m) => m.state === 'started'), 'all machines running');
  assert.equal(ms.length, 4, 'no duplicates, none lost');
  const rel = (await d2.api('GET', `/v1/apps/${app}/releases`)).body[0];
  assert.equal(rel.status, dep.status);
  return { dep, version: [...versions][0] };
}

const machineEvents = async (d: TestDaemon, id: string) => (await d.api('GET', `/v1/deployments/${id}`)).body.machines as Array<{ outcome: string }>;

test('kill -9 during the release command: the deploy is interrupted, nothing changed', async (t) => {
  const { dep, version } = await crashDuring(t, 'crash1', '\n[deploy]\nrelease_command = "sleep 5"\n', async (d, id) => {
    await waitUntil(async () => (await d.api('GET', `/v1/deployments/${id}`)).body.phase === 'release_command', 10_000, 'release command running');
  });
  assert.equal(dep.status, 'interrupted');
  assert.equal(version, 1);
});

test('kill -9 after the first machine was updated: the deploy resumes and completes', async (t) => {
  const { dep, version } = await crashDuring(t, 'crash2', '', async (d, id) => {
    await waitUntil(async () => (await machineEvents(d, id)).some((m) => m.outcome === 'updated'), 20_000, 'one machine updated');
  });
  assert.equal(dep.status, 'complete');
  assert.equal(version, 2);
});

test('kill -9 while a machine is mid-update: the deploy resumes; the half-started instance is cleaned up', async (t) => {
  const { dep, version } = await crashDuring(t, 'crash3', '', async (d, id) => {
    await waitUntil(async () => (await machineEvents(d, id)).filter((m) => m.outcome === 'updated').length >= 1 && (await machineEvents(d, id)).some((m) => m.outcome === 'updating'), 20_000, 'a machine mid-update');
  });
  assert.ok(['complete', 'rolled_back'].includes(dep.status), dep.status);
  assert.equal(version, dep.status === 'complete' ? 2 : 1);
});
