import assert from 'node:assert/strict';
import test from 'node:test';
import { RoutingTable, type BackendUpdate } from './routing-table.js';

/** A table with the given machines of app `web`, all started and healthy. */
function tableOf(machines: Array<Partial<BackendUpdate> & { machineId: string }>, home?: string): RoutingTable {
  const t = new RoutingTable();
  t.home = home;
  for (const m of machines) {
    t.upsert({ app: 'web', instanceId: `${m.machineId}-i`, region: 'fra', host: '127.0.0.1', port: 1000, inService: true, ...m });
    t.setHealthy(m.machineId, `${m.machineId}-i`, true);
  }
  return t;
}

/** How often each machine is picked in `n` picks. */
function spread(t: RoutingTable, n: number, opts: Parameters<RoutingTable['pick']>[1] = {}): Record<string, number> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const id = t.pick('web', opts)?.machineId ?? 'none';
    seen[id] = (seen[id] ?? 0) + 1;
  }
  return seen;
}

/** Puts `n` requests in flight on the machine (as the proxy does while forwarding). */
function load(t: RoutingTable, machineId: string, n: number): void {
  const b = t.allBackends().find((x) => x.machineId === machineId)!;
  for (let i = 0; i < n; i++) t.acquire(b);
}

test('pick: least outstanding requests wins, and equals share the work at random', () => {
  const t = tableOf([{ machineId: 'a' }, { machineId: 'b' }, { machineId: 'c' }]);
  load(t, 'c', 1);
  const seen = spread(t, 600);
  assert.equal(seen.c, undefined, 'the busier machine is passed over');
  assert.ok(seen.a! > 200 && seen.b! > 200, `a and b both picked: ${JSON.stringify(seen)}`);
  load(t, 'a', 2);
  load(t, 'b', 2);
  assert.deepEqual(spread(t, 50), { c: 50 });
});

test('pick: under the soft limit beats the region asked for, which beats this host, which beats its region', () => {
  const t = tableOf(
    [
      { machineId: 'remote-ams', region: 'ams', remote: true },
      { machineId: 'local-fra', region: 'fra' },
      { machineId: 'remote-fra', region: 'fra', remote: true },
      { machineId: 'local-sjc', region: 'sjc', softLimit: 1 },
    ],
    'fra',
  );
  assert.deepEqual(spread(t, 20, { region: 'ams' }), { 'remote-ams': 20 }, 'the preferred region first, even on another host');
  assert.deepEqual(spread(t, 20, { region: 'sjc' }), { 'local-sjc': 20 });
  load(t, 'local-sjc', 1);
  assert.deepEqual(spread(t, 20, { region: 'sjc' }), { 'local-fra': 20 }, 'over its soft limit: the next best under it');
  // With no region asked for: this host's machines (the busy one is over its soft limit), then the home region.
  assert.deepEqual(spread(t, 20), { 'local-fra': 20 });
  load(t, 'local-fra', 5);
  assert.deepEqual(spread(t, 20), { 'local-fra': 20 }, 'this host beats fewer requests elsewhere');
  t.setHealthy('local-fra', 'local-fra-i', false);
  assert.deepEqual(spread(t, 20), { 'remote-fra': 20 }, "then this host's region");
});

test('pick: every machine over its soft limit still takes work; hard limits, exclusions and unhealthy machines do not', () => {
  const t = tableOf([{ machineId: 'a', softLimit: 1, hardLimit: 2 }, { machineId: 'b', softLimit: 1 }, { machineId: 'c' }]);
  t.setHealthy('c', 'c-i', false);
  load(t, 'a', 1);
  load(t, 'b', 3);
  assert.deepEqual(spread(t, 20), { a: 20 }, 'both over the soft limit: the less loaded');
  load(t, 'a', 1);
  assert.deepEqual(spread(t, 20), { b: 20 }, 'a at its hard limit');
  assert.deepEqual(spread(t, 20, { exclude: new Set(['b']) }), { none: 20 });
});
