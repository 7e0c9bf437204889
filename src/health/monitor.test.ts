import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { GRACE_OUTPUT } from './check-loop.js';
import { HealthMonitor, type HealthMonitorOptions } from './monitor.js';
import type { HealthChange } from './state.js';
import { ChangeRecorder, startHttpServer, testSpec } from './test-support.js';

function monitorFor(t: TestContext, over: Partial<HealthMonitorOptions> = {}) {
  const recorder = new ChangeRecorder();
  const monitor = new HealthMonitor({ onChange: recorder.onChange, ...over });
  t.after(() => monitor.stop());
  return { monitor, recorder };
}

const target = (port: number, instanceId = 'inst-1') => ({ machineId: 'm-1', instanceId, port });
const first = (e: HealthChange) => e.checks[0]!;

test('a check goes critical → passing → critical → passing as the app flips its answer', async (t) => {
  let healthy = true;
  const server = await startHttpServer(t, (_req, res) => {
    if (healthy) res.end('ok');
    else res.writeHead(503).end('draining');
  });
  const { monitor, recorder } = monitorFor(t, { now: () => Date.UTC(2030, 0, 1) });
  monitor.watch(target(server.port), [testSpec({ name: 'web', port: server.port, path: '/health' })]);

  const initial = await recorder.next(() => true);
  assert.deepEqual(initial, {
    machineId: 'm-1',
    instanceId: 'inst-1',
    checks: [
      {
        name: 'web',
        status: 'critical',
        output: GRACE_OUTPUT,
        updatedAt: '2030-01-01T00:00:00.000Z',
        gatesRouting: true,
      },
    ],
    routable: false,
    allPassing: false,
  });

  const up = await recorder.next((e) => first(e).status === 'passing');
  assert.equal(first(up).output, 'HTTP 200 OK');
  assert.deepEqual([up.routable, up.allPassing], [true, true]);
  assert.equal(monitor.isRoutable('m-1', 'inst-1'), true);

  healthy = false;
  const down = await recorder.next((e) => first(e).status === 'critical');
  assert.equal(first(down).output, 'HTTP 503: draining');
  assert.equal(down.routable, false);
  assert.equal(monitor.isRoutable('m-1', 'inst-1'), false);

  healthy = true;
  await recorder.next((e) => first(e).status === 'passing');
  assert.deepEqual(
    recorder.events.map((e) => first(e).status),
    ['critical', 'passing', 'critical', 'passing'],
    'one event per transition, none in between',
  );
  assert.ok(server.requests.every((r) => r === 'GET /health'));
});

test('routable only looks at gating checks; allPassing looks at all of them', async (t) => {
  const server = await startHttpServer(t, (req, res) => {
    if (req.url === '/ok') res.end();
    else res.writeHead(500).end('migrations pending');
  });
  const { monitor, recorder } = monitorFor(t);
  monitor.watch(target(server.port), [
    testSpec({ name: 'servicecheck-00-http-8080', port: server.port, path: '/ok' }),
    testSpec({ name: 'migrations', port: server.port, path: '/migrations', gatesRouting: false }),
  ]);
  const settled = await recorder.next(
    (e) => e.checks[0]!.status === 'passing' && e.checks[1]!.output !== GRACE_OUTPUT,
  );
  assert.deepEqual(
    settled.checks.map((c) => [c.name, c.status, c.output, c.gatesRouting]),
    [
      ['servicecheck-00-http-8080', 'passing', 'HTTP 200 OK', true],
      ['migrations', 'critical', 'HTTP 500: migrations pending', false],
    ],
  );
  assert.deepEqual([settled.routable, settled.allPassing], [true, false]);
  assert.equal(monitor.isRoutable('m-1', 'inst-1'), true);
  assert.deepEqual(
    monitor.status('m-1').map((c) => c.status),
    ['passing', 'critical'],
  );
});

test('nothing is emitted while a check keeps the same status and output', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const { monitor, recorder } = monitorFor(t);
  monitor.watch(target(server.port), [testSpec({ port: server.port })]);
  await recorder.next((e) => e.allPassing);
  const seen = server.requests.length;
  // Five more probes: each one after the first has finished the one before it (checks never overlap).
  await server.waitFor(() => server.requests.length >= seen + 5, 2000, 'five more probes');
  assert.equal(recorder.events.length, 2, 'only the initial and the first passing event');
});

test('unwatch stops one instance; the app receives no more probes for it', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const { monitor, recorder } = monitorFor(t);
  monitor.watch(target(server.port, 'old'), [testSpec({ port: server.port, path: '/old' })]);
  monitor.watch(target(server.port, 'new'), [testSpec({ port: server.port, path: '/new' })]);
  await recorder.next((e) => e.instanceId === 'old' && e.allPassing);

  monitor.unwatch('m-1', 'old');
  assert.deepEqual(monitor.status('m-1', 'old'), []);
  assert.equal(monitor.isRoutable('m-1', 'old'), false);
  // The still-watched instance is the clock: a probe of "old" already on the wire lands well before
  // "new" has made two more, and none may follow in the next three.
  const count = (path: string) => server.requests.filter((r) => r === `GET ${path}`).length;
  const clock = count('/new');
  await server.waitFor(() => count('/new') >= clock + 2, 2000, 'two probes of the new instance');
  const oldProbes = count('/old');
  await server.waitFor(() => count('/new') >= clock + 5, 2000, 'three more probes of the new instance');
  assert.equal(count('/old'), oldProbes);
  assert.equal(monitor.status('m-1').length, 1, 'the machine still has its newer instance');
});

test('unwatch without an instance id stops every instance of the machine', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const { monitor, recorder } = monitorFor(t);
  monitor.watch(target(server.port, 'a'), [testSpec({ port: server.port })]);
  monitor.watch(target(server.port, 'b'), [testSpec({ port: server.port })]);
  await recorder.next((e) => e.instanceId === 'b' && e.allPassing);
  monitor.unwatch('m-1');
  assert.deepEqual([monitor.status('m-1', 'a'), monitor.status('m-1', 'b')], [[], []]);
  // If a timer were left, this test file would never exit.
});

test('re-watching an instance restarts its checks from the grace period', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const { monitor, recorder } = monitorFor(t);
  const spec = testSpec({ port: server.port });
  monitor.watch(target(server.port), [spec]);
  await recorder.next((e) => e.allPassing);
  monitor.watch(target(server.port), [spec]);
  const restarted = await recorder.next(() => true);
  assert.equal(first(restarted).output, GRACE_OUTPUT);
  await recorder.next((e) => e.allPassing);
});

test('a machine without checks is reported once, as an empty routable list', (t) => {
  const { monitor, recorder } = monitorFor(t);
  monitor.watch(target(1234), []);
  assert.deepEqual(recorder.events, [
    { machineId: 'm-1', instanceId: 'inst-1', checks: [], routable: true, allPassing: true },
  ]);
  assert.equal(monitor.isRoutable('m-1', 'inst-1'), true);
});

test('stop() and an aborted signal end all checking; later watches are ignored', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const controller = new AbortController();
  const { monitor, recorder } = monitorFor(t, { signal: controller.signal });
  monitor.watch(target(server.port), [testSpec({ port: server.port })]);
  await recorder.next((e) => e.allPassing);
  controller.abort();
  assert.deepEqual(monitor.status('m-1'), []);
  monitor.watch(target(server.port, 'late'), [testSpec({ port: server.port })]);
  assert.equal(recorder.events.length, 2);
  assert.deepEqual(monitor.status('m-1', 'late'), []);
});

test('an onChange that throws is reported and does not stop the checks', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const errors: unknown[] = [];
  const recorder = new ChangeRecorder();
  const monitor = new HealthMonitor({
    onChange: (e) => {
      recorder.onChange(e);
      throw new Error('consumer bug');
    },
    onError: (err) => errors.push(err),
  });
  t.after(() => monitor.stop());
  monitor.watch(target(server.port), [testSpec({ port: server.port })]);
  await recorder.next((e) => e.allPassing);
  assert.equal(errors.length, 2);
  assert.match(String(errors[0]), /consumer bug/);
});

test('minIntervalMs is a floor under the spec interval', async (t) => {
  const server = await startHttpServer(t, (_req, res) => res.end());
  const { monitor, recorder } = monitorFor(t, { minIntervalMs: 60_000 });
  monitor.watch(target(server.port), [testSpec({ port: server.port, intervalMs: 1 })]);
  await recorder.next((e) => e.allPassing);
  // A second monitor at full speed is the clock for "time has passed".
  const fast = monitorFor(t);
  fast.monitor.watch(target(server.port, 'clock'), [testSpec({ port: server.port, path: '/clock', intervalMs: 1 })]);
  await server.waitFor(() => server.requests.filter((r) => r === 'GET /clock').length >= 20, 2000, 'clock probes');
  assert.equal(server.requests.filter((r) => r === 'GET /').length, 1);
});
