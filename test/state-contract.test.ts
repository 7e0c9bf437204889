/**
 * The state layer's contract: every repository case runs unchanged against SQLite (a temp file) and
 * PostgreSQL (one throwaway server for the file, a fresh database per case), so a dialect difference
 * shows up as a failing case on one side. After the shared cases come PostgreSQL's own: opening from
 * several nodes at once, clear errors for a wrong URL, and a server that goes away while the state is open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { DeployOptions, Deployment, Release } from '../src/core/deploy.js';
import { UserError } from '../src/core/errors.js';
import type { App, Host, Image, Machine, MachineEvent } from '../src/core/types.js';
import { openState, type State, type StateLocation, type StoredSecret } from '../src/state/index.js';
import { migrations } from '../src/state/migrations.js';
import type { Database } from '../src/state/schema.js';
import { waitUntil } from './runtime-contract.js';
import { postgresAvailable, startPostgres, type PgServer } from './support/postgres.js';

/** One case's database: `open` gives states that are closed (then the database removed) after the case. */
interface Case {
  open(): Promise<State>;
}

interface Backend {
  name: string;
  skip: string | false;
  /** Runs once before the backend's cases (starting a server, say). */
  setup?(): Promise<void>;
  /** An empty database for one case; everything is removed by the time the case's hooks are done. */
  fresh(t: { after(fn: () => unknown): void }): Promise<Case>;
}

/** Tracks the states a case opens so they are closed before its database goes. */
function caseOf(where: string | StateLocation, t: { after(fn: () => unknown): void }, remove: () => unknown): Case {
  const opened: State[] = [];
  t.after(async () => {
    for (const s of opened) await s.close().catch(() => undefined);
    await remove();
  });
  return {
    async open() {
      const s = await openState(where);
      opened.push(s);
      return s;
    },
  };
}

const sqlite: Backend = {
  name: 'SQLite',
  skip: false,
  async fresh(t) {
    const dir = mkdtempSync(join(tmpdir(), 'hangar-state-'));
    return caseOf(join(dir, 'state.db'), t, () => rmSync(dir, { recursive: true, force: true }));
  },
};

const available = postgresAvailable();
let server: PgServer | undefined;
let starting: Promise<PgServer> | undefined;
const serverCleanups: Array<() => unknown> = [];
// One server for the whole file, started by the first PostgreSQL case and removed after the last.
after(async () => {
  for (const fn of serverCleanups.splice(0).reverse()) await fn();
});

const postgres: Backend = {
  name: 'PostgreSQL',
  skip: available.ok ? false : available.reason,
  async setup() {
    starting ??= startPostgres({ after: (fn) => serverCleanups.push(fn) });
    server = await starting;
  },
  async fresh(t) {
    const s = server!;
    const db = await s.createDatabase();
    return caseOf({ kind: 'postgres', url: s.url(db), waitMs: 15_000 }, t, () => s.dropDatabase(db));
  },
};

// ---- fixtures ----

const at = (second: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString();
/** Past 2^31 and 2^32, so a bigint column that comes back as a string (or wraps) is caught. */
const BIG = 5 * 2 ** 32 + 7;
const NOW_MS = 1_735_689_600_123;

function app(name: string, routing: App['routing'] = {}): App {
  return { id: `app_${name}`, name, createdAt: at(0), routing };
}

function machine(a: App, name: string, over: Partial<Machine> = {}): Machine {
  return {
    id: `m_${a.name}_${name}`,
    appName: a.name,
    name,
    state: 'started',
    region: 'ams',
    hostId: 'host_a',
    instanceId: `i_${name}`,
    imageRef: { registry: 'hangar.local', repository: a.name, tag: 'v1', digest: 'sha256:abc' },
    config: {
      image: `hangar.local/${a.name}:v1`,
      env: { GREETING: 'héllo "quoted" ✓', EMPTY: '' },
      init: { cmd: ['node', 'server.js'] },
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 443, handlers: ['tls', 'http'], force_https: true }], checks: [{ type: 'http', path: '/health', interval: '5s' }], autostop: 'stop', min_machines_running: 1 }],
      checks: { alive: { type: 'tcp', port: 8080, interval: '10s', timeout: '2s' } },
      restart: { policy: 'on-failure', max_retries: 3 },
      stop_config: { signal: 'SIGINT', timeout: '5s' },
      metadata: { fly_process_group: 'web' },
      guest: { cpus: 2, memory_mb: 512 },
    },
    cordoned: false,
    runtime: 'process',
    port: 40123,
    restartCount: 0,
    startedAt: at(1),
    lastExitCode: null,
    createdAt: at(1),
    updatedAt: at(1),
    ...over,
  };
}

function event(m: Machine, type: string, extra: Partial<MachineEvent> = {}): Omit<MachineEvent, 'id'> {
  return { machineId: m.id, type, status: type, source: 'hangar', timestamp: NOW_MS, ...extra };
}

function image(a: App, tag: string, digest: string, createdAt: string, over: Partial<Image> = {}): Image {
  const ref = { registry: 'hangar.local', repository: a.name, tag, digest };
  return { appName: a.name, ref, fullRef: `hangar.local/${a.name}:${tag}`, runtime: 'process', sizeBytes: BIG, fileCount: 12, createdAt, ...over };
}

function release(over: Partial<Omit<Release, 'version' | 'appName'>> = {}): Omit<Release, 'version' | 'appName'> {
  return { status: 'running', imageRef: 'hangar.local/web:v1', strategy: 'rolling', config: { app: 'web', processes: { web: 'node server.js' }, nested: [1, 'two', null] }, user: 'ana', description: 'first', stable: false, createdAt: at(2), updatedAt: at(2), ...over };
}

const OPTIONS: DeployOptions = {
  strategy: 'canary',
  maxUnavailable: 0.25,
  waitTimeoutMs: 120_000,
  releaseCommandTimeoutMs: 300_000,
  skipReleaseCommand: false,
  maxFailures: 1,
  autoRollback: true,
  targeting: { regions: ['ams', 'fra'], excludeMachines: ['m9'] },
  fastPath: false,
  notify: [{ url: 'http://127.0.0.1:9/hook', events: ['done'] }],
};

function deployment(a: App, id: string, over: Partial<Deployment> = {}): Deployment {
  return {
    id,
    appName: a.name,
    releaseVersion: 1,
    status: 'running',
    phase: 'pending',
    options: OPTIONS,
    machines: [{ machineId: 'm1', group: 'web', region: 'ams', outcome: 'pending', fromVersion: null, fromImage: 'hangar.local/web:v0', fromConfig: { a: 1 } }],
    createdAt: at(3),
    updatedAt: at(3),
    ...over,
  };
}

function secret(name: string, keyId = 'k1', over: Partial<StoredSecret> = {}): StoredSecret {
  return { name, sealed: `sealed:${name}:${keyId}`, digest: `d:${name}`, keyId, createdAt: at(4), updatedAt: at(4), ...over };
}

function host(id: string, over: Partial<Host> = {}): Host {
  return { id, name: id.replace('host_', 'node-'), region: 'ams', address: '127.0.0.1', apiPort: 4280, proxyPort: 8080, cpus: 4, memoryMb: 8192, runtimes: ['process', 'docker'], draining: false, version: '0.1.0', heartbeat: BIG, lastSeenAt: NOW_MS, startedAt: at(5), createdAt: at(5), ...over };
}

async function count(s: State, table: keyof Database): Promise<number> {
  const { n } = await s.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(typeof n, 'number', `count(*) of ${table} comes back as a number`);
  return n;
}

async function migrationRows(s: State): Promise<string[]> {
  return (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(s.db)).rows.map((r) => r.name);
}

const KNOWN_MIGRATIONS = Object.keys(migrations('sqlite')).sort();

// ---- the contract ----

function stateContract(b: Backend): void {
  describe(`state contract: ${b.name}`, { skip: b.skip }, () => {
    if (b.setup) before(() => b.setup!(), { timeout: 60_000 });
    const fresh = async (t: { after(fn: () => unknown): void }) => {
      const c = await b.fresh(t);
      return { c, s: await c.open() };
    };

    test('apps: insert, byName, list by name, routing round trip, setRouting', async (t) => {
      const { s } = await fresh(t);
      const routing: App['routing'] = {
        hostnames: ['web.example.test', 'ünïcode.test'],
        holdTimeoutMs: 1500,
        idleTimeoutMs: 60_000,
        ports: [9000, 9001],
        sets: [{ name: 'blue', machines: ['m1', 'm2'], weight: 90 }, { name: 'green', machines: ['m3'], weight: 10 }],
        pins: [{ set: 'green', header: { name: 'x-canary', value: '1' } }, { set: 'blue', cookie: { name: 'pin', value: 'b' } }],
      };
      await s.apps.insert(app('zeta'));
      await s.apps.insert(app('alpha', routing));
      await s.apps.insert(app('mid'));
      assert.deepEqual(await s.apps.byName('alpha'), app('alpha', routing));
      assert.equal(await s.apps.byName('nope'), undefined);
      assert.deepEqual((await s.apps.list()).map((a) => a.name), ['alpha', 'mid', 'zeta']);
      await assert.rejects(s.apps.insert({ ...app('alpha'), id: 'another_id' }), 'app names are unique');
      await s.apps.setRouting('app_zeta', { holdTimeoutMs: 5 });
      assert.deepEqual((await s.apps.byName('zeta'))!.routing, { holdTimeoutMs: 5 });
    });

    test('apps: machineCounts counts live machines per app, as numbers', async (t) => {
      const { s } = await fresh(t);
      const [a, b2, c] = [app('a'), app('b'), app('c')];
      for (const x of [a, b2, c]) await s.apps.insert(x);
      await s.machines.insert(machine(a, 'one'), a.id);
      await s.machines.insert(machine(a, 'two', { state: 'stopped' }), a.id);
      await s.machines.insert(machine(a, 'gone', { state: 'destroyed' }), a.id);
      await s.machines.insert(machine(b2, 'gone', { state: 'destroyed' }), b2.id);
      await s.machines.insert(machine(c, 'one', { state: 'failed' }), c.id);
      const counts = await s.apps.machineCounts();
      assert.deepEqual([...counts.entries()].sort(), [['app_a', 2], ['app_c', 1]]);
    });

    test('apps: delete removes everything the app owns, and nothing of other apps', async (t) => {
      const { s } = await fresh(t);
      const [doomed, kept] = [app('doomed'), app('kept')];
      for (const a of [doomed, kept]) {
        await s.apps.insert(a);
        const m = machine(a, 'one');
        await s.machines.insert(m, a.id);
        await s.machines.addEvent(event(m, 'start'));
        await s.machines.saveChecks(m.id, [{ name: 'alive', status: 'passing', output: 'ok', updatedAt: at(6) }]);
        await s.leases.put({ machineId: m.id, nonce: 'n', owner: 'o', description: '', expiresAt: NOW_MS });
        await s.images.put(a.id, image(a, 'v1', 'sha256:1', at(1)));
        await s.releases.create(a.id, release());
        await s.deployments.insert(a.id, deployment(a, `d_${a.name}`));
        await s.deployments.addEvent(`d_${a.name}`, 1, { type: 'warning', message: 'w' });
        await s.secrets.apply(a.id, { upsert: [secret('TOKEN')], remove: [] });
        await s.certs.insertPending(a.id, `${a.name}.example.test`, NOW_MS);
        await s.certs.putChallenge(`tok_${a.name}`, `${a.name}.example.test`, 'k.a', NOW_MS + 1000);
      }
      const tables = ['machines', 'machine_events', 'machine_checks', 'leases', 'images', 'releases', 'deployments', 'deployment_events', 'secrets', 'certificates', 'acme_challenges'] as const;
      const before = await Promise.all(tables.map((tb) => count(s, tb)));
      assert.deepEqual(before, tables.map(() => 2));
      await s.apps.delete(doomed.id);
      assert.deepEqual(await Promise.all(tables.map((tb) => count(s, tb))), tables.map(() => 1), 'one of each row left: the kept app’s');
      assert.equal(await s.apps.byName('doomed'), undefined);
      assert.equal((await s.machines.list({ includeDestroyed: true })).every((m) => m.appName === 'kept'), true);
      assert.equal((await s.secrets.list(kept.id)).length, 1);
      assert.equal(await s.deployments.lastSeq('d_kept'), 1);
    });

    test('machines: insert, get and save round-trip every field', async (t) => {
      const { s } = await fresh(t);
      const a = app('web');
      await s.apps.insert(a);
      const m = machine(a, 'one');
      await s.machines.insert(m, a.id);
      assert.deepEqual(await s.machines.get(m.id), m);
      assert.equal(await s.machines.get('m_missing'), undefined);
      const changed: Machine = {
        ...m,
        name: 'renamed',
        state: 'stopped',
        region: 'fra',
        hostId: 'host_b',
        instanceId: 'i_two',
        imageRef: { registry: 'r.test:5000', repository: 'team/web', tag: 'v2', digest: 'sha256:def' },
        config: { ...m.config, env: {}, metadata: { fly_process_group: 'worker' }, network: 'published' },
        cordoned: true,
        runtime: 'docker',
        port: null,
        restartCount: 7,
        startedAt: null,
        lastExitCode: 137,
        updatedAt: at(9),
        createdAt: at(59),
      };
      await s.machines.save(changed);
      assert.deepEqual(await s.machines.get(m.id), { ...changed, createdAt: m.createdAt }, 'save keeps the creation time');
      // A machine without a host (rows from before hosts existed) reads back with an empty hostId.
      await s.machines.save({ ...changed, hostId: '' });
      assert.equal((await s.machines.get(m.id))!.hostId, '');
    });

    test('machines: list filters by app, host and states, hides destroyed unless asked, orders by creation then id', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      const ms = [
        machine(a, 'late', { createdAt: at(30) }),
        machine(a, 'zz', { createdAt: at(10), hostId: 'host_b' }),
        machine(a, 'aa', { createdAt: at(10), state: 'stopped' }),
        machine(a, 'dead', { createdAt: at(5), state: 'destroyed' }),
        machine(b2, 'first', { createdAt: at(1), hostId: 'host_b', state: 'failed' }),
      ];
      for (const m of ms) await s.machines.insert(m, m.appName === 'a' ? a.id : b2.id);
      const names = (list: Machine[]) => list.map((m) => `${m.appName}/${m.name}`);
      assert.deepEqual(names(await s.machines.list()), ['b/first', 'a/aa', 'a/zz', 'a/late']);
      assert.deepEqual(names(await s.machines.list({ includeDestroyed: true })), ['b/first', 'a/dead', 'a/aa', 'a/zz', 'a/late']);
      assert.deepEqual(names(await s.machines.list({ appId: a.id })), ['a/aa', 'a/zz', 'a/late']);
      assert.deepEqual(names(await s.machines.list({ hostId: 'host_b' })), ['b/first', 'a/zz']);
      assert.deepEqual(names(await s.machines.list({ appId: a.id, hostId: 'host_b' })), ['a/zz']);
      assert.deepEqual(names(await s.machines.list({ states: ['stopped', 'destroyed'] })), ['a/dead', 'a/aa'], 'asking for destroyed by state shows them');
      assert.deepEqual(names(await s.machines.list({ states: ['failed'], appId: a.id })), []);
    });

    test('machines: claimUnowned gives rows without a host to one, once; countByHost counts live machines', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      await s.machines.insert(machine(a, 'old1', { hostId: '' }), a.id);
      await s.machines.insert(machine(a, 'old2', { hostId: '', state: 'destroyed' }), a.id);
      await s.machines.insert(machine(a, 'other', { hostId: 'host_b' }), a.id);
      await s.machines.insert(machine(a, 'other-dead', { hostId: 'host_b', state: 'destroyed' }), a.id);
      assert.deepEqual([...(await s.machines.countByHost())], [['host_b', 1]], 'unowned machines count for no host');
      const claimed = await s.machines.claimUnowned('host_a');
      assert.equal(claimed, 2);
      assert.equal(await s.machines.claimUnowned('host_c'), 0, 'nothing is left to claim');
      assert.equal((await s.machines.get('m_a_old1'))!.hostId, 'host_a');
      assert.equal((await s.machines.get('m_a_other'))!.hostId, 'host_b');
      const byHost = await s.machines.countByHost();
      assert.deepEqual([...byHost.entries()].sort(), [['host_a', 1], ['host_b', 1]]);
    });

    test('machines: saveChecks replaces a machine’s checks; checks() groups them by machine, by name', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      const [m1, m2] = [machine(a, 'one'), machine(a, 'two')];
      await s.machines.insert(m1, a.id);
      await s.machines.insert(m2, a.id);
      const c = (name: string, status: 'passing' | 'warning' | 'critical', output = '') => ({ name, status, output, updatedAt: at(7) });
      await s.machines.saveChecks(m1.id, [c('zeta', 'passing'), c('alpha', 'critical', 'connection refused\nline 2')]);
      await s.machines.saveChecks(m2.id, [c('alive', 'warning')]);
      assert.deepEqual(await s.machines.checks(), new Map([[m1.id, [c('alpha', 'critical', 'connection refused\nline 2'), c('zeta', 'passing')]], [m2.id, [c('alive', 'warning')]]]));
      await s.machines.saveChecks(m1.id, [c('zeta', 'warning', 'slow')]);
      assert.deepEqual((await s.machines.checks()).get(m1.id), [c('zeta', 'warning', 'slow')]);
      await s.machines.saveChecks(m2.id, []);
      assert.deepEqual([...(await s.machines.checks()).keys()], [m1.id]);
    });

    test('machines: addEvent numbers events upwards; events lists newest first up to a limit', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      const [m1, m2] = [machine(a, 'one'), machine(a, 'two')];
      await s.machines.insert(m1, a.id);
      await s.machines.insert(m2, a.id);
      const full = await s.machines.addEvent(event(m1, 'exit', { source: 'user', exitCode: 2, signal: 'SIGTERM', message: 'bye', timestamp: NOW_MS + 1 }));
      assert.equal(typeof full.id, 'number');
      const ids = [full.id];
      for (let i = 0; i < 6; i++) ids.push((await s.machines.addEvent(event(i % 2 ? m2 : m1, `e${i}`, { timestamp: NOW_MS + 2 + i }))).id);
      assert.deepEqual([...ids].sort((x, y) => x - y), ids, 'ids increase');
      assert.equal(new Set(ids).size, ids.length);
      const all = await s.machines.events(m1.id);
      assert.deepEqual(all.map((e) => e.type), ['e4', 'e2', 'e0', 'exit']);
      assert.deepEqual(all.at(-1), full, 'optional fields round-trip');
      assert.equal('exitCode' in all[0]!, false, 'absent optional fields stay absent');
      assert.equal(all[0]!.timestamp, NOW_MS + 6);
      assert.deepEqual((await s.machines.events(m1.id, 2)).map((e) => e.type), ['e4', 'e2']);
      assert.deepEqual(await s.machines.events('m_none'), []);
    });

    test('machines: recentEvents returns the newest events of each machine, capped per machine', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      const ms = [machine(a, 'one'), machine(a, 'two'), machine(a, 'quiet')];
      for (const m of ms) await s.machines.insert(m, a.id);
      for (let i = 0; i < 5; i++) for (const m of ms.slice(0, 2)) await s.machines.addEvent(event(m, `${m.name}${i}`));
      const recent = await s.machines.recentEvents(ms.map((m) => m.id), 3);
      assert.deepEqual(recent.get(ms[0]!.id)?.map((e) => e.type), ['one4', 'one3', 'one2']);
      assert.deepEqual(recent.get(ms[1]!.id)?.map((e) => e.type), ['two4', 'two3', 'two2']);
      assert.equal(recent.has(ms[2]!.id), false, 'a machine without events has no entry');
      assert.equal((await s.machines.recentEvents([])).size, 0);
      // A busy machine's many newer events do not crowd out a quiet one's.
      await s.machines.addEvent(event(ms[2]!, 'quiet0'));
      for (let i = 0; i < 40; i++) await s.machines.addEvent(event(ms[0]!, `busy${i}`));
      const mixed = await s.machines.recentEvents([ms[2]!.id, ms[0]!.id], 3);
      assert.deepEqual(mixed.get(ms[2]!.id)?.map((e) => e.type), ['quiet0']);
      assert.deepEqual(mixed.get(ms[0]!.id)?.map((e) => e.type), ['busy39', 'busy38', 'busy37']);
    });

    test('leases: put inserts then replaces; get and delete', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      const m = machine(a, 'one');
      await s.machines.insert(m, a.id);
      const first = { machineId: m.id, nonce: 'n1', owner: 'ana@example.test', description: 'deploy', expiresAt: NOW_MS };
      await s.leases.put(first);
      assert.deepEqual(await s.leases.get(m.id), first);
      const second = { machineId: m.id, nonce: 'n2', owner: 'bo', description: '', expiresAt: NOW_MS + BIG };
      await s.leases.put(second);
      assert.deepEqual(await s.leases.get(m.id), second);
      assert.equal(await count(s, 'leases'), 1);
      await s.leases.delete(m.id);
      assert.equal(await s.leases.get(m.id), undefined);
      await s.leases.delete(m.id);
    });

    test('images: put (upsert per tag), get, byDigest, list newest first, referencedDigests, sizes as numbers', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      const v1 = image(a, 'v1', 'sha256:one', at(1));
      const v2 = image(a, 'v2', 'sha256:two', at(2), { sizeBytes: 17, fileCount: 0 });
      const v1again = image(a, 'v1-copy', 'sha256:one', at(3));
      const docker = image(b2, 'latest', 'sha256:dock', at(4), { runtime: 'docker', sizeBytes: 123_456_789_012 });
      for (const [id, img] of [[a.id, v1], [a.id, v2], [a.id, v1again], [b2.id, docker]] as const) await s.images.put(id, img);
      assert.deepEqual(await s.images.get(a.id, 'v1'), v1);
      assert.equal(typeof (await s.images.get(a.id, 'v1'))!.sizeBytes, 'number');
      assert.equal(await s.images.get(b2.id, 'v1'), undefined, 'tags are per app');
      assert.deepEqual(await s.images.byDigest(a.id, 'sha256:one'), v1again, 'the newest name for a digest');
      assert.equal(await s.images.byDigest(b2.id, 'sha256:one'), undefined);
      assert.deepEqual((await s.images.list(a.id)).map((i) => i.ref.tag), ['v1-copy', 'v2', 'v1']);
      assert.deepEqual(await s.images.get(b2.id, 'latest'), docker);
      assert.deepEqual([...(await s.images.referencedDigests())].sort(), ['sha256:one', 'sha256:two'], 'docker images are not in the store');
      const moved = image(a, 'v2', 'sha256:three', at(5), { sizeBytes: BIG, fileCount: 3, runtime: 'docker' });
      moved.ref.registry = 'r.test';
      await s.images.put(a.id, moved);
      assert.deepEqual(await s.images.get(a.id, 'v2'), { ...moved, fullRef: 'r.test/a:v2' });
      assert.deepEqual([...(await s.images.referencedDigests())], ['sha256:one']);
    });

    test('releases: create numbers versions 1, 2, 3 per app; get, setStatus, list newest first', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      assert.equal(await s.releases.create(a.id, release()), 1);
      assert.equal(await s.releases.create(a.id, release({ description: 'second', strategy: 'canary' })), 2);
      assert.equal(await s.releases.create(b2.id, release()), 1, 'versions are per app');
      assert.equal(await s.releases.create(a.id, release({ description: 'third' })), 3);
      assert.deepEqual(await s.releases.get(a.id, 1), { ...release(), appName: 'a', version: 1 });
      assert.equal(await s.releases.get(a.id, 4), undefined);
      assert.deepEqual((await s.releases.list(a.id)).map((r) => [r.version, r.description]), [[3, 'third'], [2, 'second'], [1, 'first']]);
      await s.releases.setStatus(a.id, 2, 'complete', true);
      const r2 = (await s.releases.get(a.id, 2))!;
      assert.equal(r2.status, 'complete');
      assert.equal(r2.stable, true);
      assert.notEqual(r2.updatedAt, release().updatedAt);
      assert.equal((await s.releases.get(a.id, 1))!.status, 'running', 'only the named version changes');
      assert.equal((await s.releases.get(b2.id, 1))!.status, 'running');
    });

    test('releases: creates running at the same moment for one app each get their own version', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      const versions = await Promise.all(Array.from({ length: 6 }, (_, i) => s.releases.create(a.id, release({ description: `r${i}` }))));
      assert.deepEqual([...versions].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6]);
      assert.equal((await s.releases.list(a.id)).length, 6);
    });

    test('deployments: insert, get, save, list filtered newest first; JSON fields and paused round-trip', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      const d1 = deployment(a, 'd1', { extra: { green: ['m2', 'm3'], step: 2, weights: { canary: 0.1 } }, paused: true, error: 'earlier trouble' });
      const d2 = deployment(a, 'd2', { createdAt: at(20), status: 'complete', phase: 'done' });
      const d3 = deployment(b2, 'd3', { createdAt: at(10) });
      for (const d of [d1, d2, d3]) await s.deployments.insert(d.appName === 'a' ? a.id : b2.id, d);
      assert.deepEqual(await s.deployments.get('d1'), d1);
      assert.deepEqual(await s.deployments.get('d2'), { ...d2, extra: {}, paused: false }, 'no extra reads as {}, not paused');
      assert.equal(await s.deployments.get('d9'), undefined);
      const ids = (ds: Deployment[]) => ds.map((d) => d.id);
      assert.deepEqual(ids(await s.deployments.list()), ['d2', 'd3', 'd1']);
      assert.deepEqual(ids(await s.deployments.list(a.id)), ['d2', 'd1']);
      assert.deepEqual(ids(await s.deployments.list(a.id, 'running')), ['d1']);
      assert.deepEqual(ids(await s.deployments.list(undefined, 'running')), ['d3', 'd1']);
      const saved: Deployment = { ...d1, status: 'rolled_back', phase: 'rolling_back', machines: [{ ...d1.machines[0]!, outcome: 'rolled_back', fromVersion: 3, error: 'unhealthy' }], extra: { step: 3 }, paused: false, updatedAt: at(40) };
      delete saved.error;
      await s.deployments.save(saved);
      assert.deepEqual(await s.deployments.get('d1'), saved);
    });

    test('deployments: addEvent, events after a seq in order, lastSeq', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      await s.deployments.insert(a.id, deployment(a, 'd1'));
      await s.deployments.insert(a.id, deployment(a, 'd2'));
      assert.equal(await s.deployments.lastSeq('d1'), 0);
      assert.deepEqual(await s.deployments.events('d1'), []);
      const evs = [
        { type: 'phase', phase: 'canary', message: 'step 1' },
        { type: 'decision', step: 1, weight: 0.1, verdict: 'continue', reason: 'ok', canary: { requests: 10, errorRate: 0, p95Ms: 12.5 }, stable: { requests: 90, errorRate: 0.01, p95Ms: null } },
        { type: 'done', status: 'complete', release: 2, message: 'done', url: null },
      ] as const;
      const stored = [];
      for (const [i, e] of evs.entries()) stored.push(await s.deployments.addEvent('d1', i + 1, e));
      await s.deployments.addEvent('d2', 1, { type: 'warning', message: 'other' });
      assert.deepEqual(await s.deployments.events('d1'), stored);
      assert.deepEqual((await s.deployments.events('d1', 1)).map((e) => e.seq), [2, 3]);
      assert.deepEqual(await s.deployments.events('d1', 3), []);
      assert.equal(await s.deployments.lastSeq('d1'), 3);
      assert.equal(typeof (await s.deployments.lastSeq('d1')), 'number');
      await assert.rejects(s.deployments.addEvent('d1', 3, { type: 'warning', message: 'dup' }), 'a seq is written once');
    });

    test('secrets: apply writes and removes; list by name; keyIds', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      assert.deepEqual(await s.secrets.keyIds(), []);
      await s.secrets.apply(a.id, { upsert: [secret('ZED'), secret('API_KEY'), secret('OLD')], remove: [] });
      await s.secrets.apply(b2.id, { upsert: [secret('OLD', 'k2')], remove: [] });
      await s.secrets.apply(a.id, { upsert: [secret('ZED', 'k2', { updatedAt: at(50), createdAt: at(50) })], remove: ['OLD', 'NEVER_SET'] });
      const list = await s.secrets.list(a.id);
      assert.deepEqual(list.map((x) => x.name), ['API_KEY', 'ZED']);
      assert.deepEqual(list[1], { ...secret('ZED', 'k2'), updatedAt: at(50) }, 'an update keeps the creation time');
      assert.deepEqual((await s.secrets.list(b2.id)).map((x) => x.name), ['OLD'], 'removal is per app');
      assert.deepEqual((await s.secrets.keyIds()).sort(), ['k1', 'k2']);
    });

    test('secrets: a change that fails halfway writes nothing', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      await s.secrets.apply(a.id, { upsert: [secret('KEEP'), secret('CHANGE')], remove: [] });
      const before = await s.secrets.list(a.id);
      // The last upsert breaks a NOT NULL column: the database itself rejects it, after the removal
      // and the first upsert were already sent in the same transaction.
      const broken = { ...secret('NEW'), sealed: null as unknown as string };
      await assert.rejects(s.secrets.apply(a.id, { upsert: [secret('CHANGE', 'k9'), secret('ADDED'), broken], remove: ['KEEP'] }));
      assert.deepEqual(await s.secrets.list(a.id), before);
      assert.deepEqual(await s.secrets.keyIds(), ['k1']);
    });

    test('certs: insertPending once per hostname; get, list by app and hostname, revisions', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      assert.equal(await s.certs.insertPending(a.id, 'zeta.example.test', NOW_MS), true);
      assert.equal(await s.certs.insertPending(a.id, 'alpha.example.test', NOW_MS + 1), true);
      assert.equal(await s.certs.insertPending(b2.id, 'zeta.example.test', NOW_MS), false, 'a hostname belongs to one app');
      await s.certs.insertPending(b2.id, 'b.example.test', NOW_MS);
      const c = (await s.certs.get('alpha.example.test'))!;
      assert.deepEqual(c, {
        hostname: 'alpha.example.test', appId: a.id, appName: 'a', status: 'pending', source: 'acme', certPem: null, keySealed: null, keyId: null, issuer: null, serial: null,
        notBefore: null, notAfter: null, lastError: null, attempts: 0, nextAttemptAt: NOW_MS + 1, claimedBy: null, claimedUntil: null, revision: 1,
        createdAt: new Date(NOW_MS + 1).toISOString(), updatedAt: new Date(NOW_MS + 1).toISOString(),
      });
      assert.equal(typeof c.nextAttemptAt, 'number');
      assert.equal(await s.certs.get('nope.example.test'), undefined);
      assert.deepEqual((await s.certs.list(a.id)).map((x) => x.hostname), ['alpha.example.test', 'zeta.example.test']);
      assert.deepEqual((await s.certs.list()).map((x) => `${x.appName}/${x.hostname}`), ['a/alpha.example.test', 'b/b.example.test', 'a/zeta.example.test']);
      assert.deepEqual([...(await s.certs.revisions())].sort(), [['alpha.example.test', 1], ['b.example.test', 1], ['zeta.example.test', 1]]);
    });

    test('certs: one claim at a time; finish records an issue or a failure only for the claimant; due order', async (t) => {
      const { s } = await fresh(t);
      const a = app('a');
      await s.apps.insert(a);
      await s.certs.insertPending(a.id, 'late.example.test', BIG + 50);
      await s.certs.insertPending(a.id, 'soon.example.test', BIG);
      assert.deepEqual(await s.certs.due(BIG + 10, 10), ['soon.example.test']);
      assert.deepEqual(await s.certs.due(BIG + 100, 10), ['soon.example.test', 'late.example.test']);
      assert.deepEqual(await s.certs.due(BIG + 100, 1), ['soon.example.test'], 'limit');
      // Two nodes at once: exactly one wins.
      const wins = await Promise.all([s.certs.claim('soon.example.test', 'node-a', BIG + 1000, BIG + 1), s.certs.claim('soon.example.test', 'node-b', BIG + 1000, BIG + 1)]);
      assert.deepEqual(wins.filter(Boolean).length, 1);
      const holder = wins[0] ? 'node-a' : 'node-b';
      const other = wins[0] ? 'node-b' : 'node-a';
      assert.deepEqual(await s.certs.due(BIG + 100, 10), ['late.example.test'], 'a claimed certificate is not due');
      assert.equal(await s.certs.claim('soon.example.test', other, BIG + 2000, BIG + 999), false);
      assert.equal(await s.certs.extendClaim('soon.example.test', holder, BIG + 3000), true);
      assert.equal(await s.certs.extendClaim('soon.example.test', other, BIG + 3000), false);
      assert.equal(await s.certs.claim('soon.example.test', other, BIG + 2000, BIG + 2999), false, 'the extended claim holds');
      assert.equal(await s.certs.finish('soon.example.test', other, { kind: 'failed', error: 'x', permanent: false, nextAttemptAt: 1 }, NOW_MS), false, 'only the claimant records');
      assert.equal(await s.certs.finish('soon.example.test', holder, { kind: 'failed', error: 'connection refused', permanent: false, nextAttemptAt: BIG + 60_000 }, NOW_MS), true);
      let c = (await s.certs.get('soon.example.test'))!;
      assert.deepEqual([c.status, c.lastError, c.attempts, c.nextAttemptAt, c.claimedBy, c.claimedUntil, c.revision], ['pending', 'connection refused', 1, BIG + 60_000, null, null, 1], 'a failure moves no revision');
      assert.equal(await s.certs.claim('soon.example.test', holder, BIG + 1000, BIG + 59_999), false, 'not due before the backoff ends');
      assert.equal(await s.certs.claim('soon.example.test', other, BIG + 70_000, BIG + 60_000), true);
      // A lapsed claim is taken over by another node.
      assert.equal(await s.certs.claim('soon.example.test', holder, BIG + 80_000, BIG + 70_001), true);
      const material = { certPem: 'PEM', keySealed: 'v1:sealed', keyId: 'k1', issuer: 'Test CA', serial: '0a1b', notBefore: BIG, notAfter: BIG + 90 * 86_400_000 };
      assert.equal(await s.certs.finish('soon.example.test', other, { kind: 'issued', material, nextAttemptAt: BIG + 60 * 86_400_000 }, NOW_MS), false, 'the node that lost its claim records nothing');
      assert.equal(await s.certs.finish('soon.example.test', holder, { kind: 'issued', material, nextAttemptAt: BIG + 60 * 86_400_000 }, NOW_MS), true);
      c = (await s.certs.get('soon.example.test'))!;
      assert.deepEqual({ ...c, createdAt: '', updatedAt: '' }, {
        hostname: 'soon.example.test', appId: a.id, appName: 'a', status: 'issued', source: 'acme', ...material, lastError: null, attempts: 0,
        nextAttemptAt: BIG + 60 * 86_400_000, claimedBy: null, claimedUntil: null, revision: 2, createdAt: '', updatedAt: '',
      });
      assert.equal(await s.certs.claim('soon.example.test', other, BIG + 1000, BIG + 100), false, 'issued: not due until its renewal');
      // A permanent failure of a pending one marks it failed; requeue makes it due again.
      await s.certs.claim('late.example.test', holder, BIG + 1000, BIG + 100);
      await s.certs.finish('late.example.test', holder, { kind: 'failed', error: 'rejected', permanent: true, nextAttemptAt: null }, NOW_MS);
      c = (await s.certs.get('late.example.test'))!;
      assert.deepEqual([c.status, c.nextAttemptAt, c.revision], ['failed', null, 2]);
      assert.deepEqual(await s.certs.due(BIG + 1000, 10), [], 'failed: never due; issued: due at its renewal');
      await s.certs.requeue('late.example.test', BIG + 5);
      await s.certs.requeue('soon.example.test', BIG + 5);
      assert.deepEqual(await s.certs.due(BIG + 5, 10), ['late.example.test'], 'requeue leaves an issued certificate alone');
      c = (await s.certs.get('late.example.test'))!;
      assert.deepEqual([c.status, c.attempts, c.revision], ['pending', 0, 3]);
      await s.certs.claim('late.example.test', holder, BIG + 1000, BIG + 100);
      await s.certs.release('late.example.test', holder);
      assert.equal((await s.certs.get('late.example.test'))!.claimedBy, null);
    });

    test('certs: putImported replaces the app’s own, never another app’s; remove; keyIds', async (t) => {
      const { s } = await fresh(t);
      const [a, b2] = [app('a'), app('b')];
      await s.apps.insert(a);
      await s.apps.insert(b2);
      const material = { certPem: 'PEM', keySealed: 'v1:s', keyId: 'k1', issuer: 'Mine', serial: '01', notBefore: BIG, notAfter: BIG + 1 };
      assert.equal(await s.certs.putImported(a.id, 'new.example.test', material, NOW_MS), true);
      let c = (await s.certs.get('new.example.test'))!;
      assert.deepEqual([c.status, c.source, c.certPem, c.notAfter, c.nextAttemptAt], ['issued', 'imported', 'PEM', BIG + 1, null]);
      await s.certs.insertPending(a.id, 'acme.example.test', NOW_MS);
      assert.equal(await s.certs.putImported(a.id, 'acme.example.test', { ...material, keyId: 'k2' }, NOW_MS), true);
      c = (await s.certs.get('acme.example.test'))!;
      assert.deepEqual([c.status, c.source, c.revision, c.nextAttemptAt], ['issued', 'imported', 2, null]);
      assert.equal(await s.certs.putImported(b2.id, 'acme.example.test', material, NOW_MS), false);
      assert.equal((await s.certs.get('acme.example.test'))!.appName, 'a');
      assert.deepEqual((await s.certs.keyIds()).sort(), ['k1', 'k2']);
      await s.certs.accountOr({ directoryUrl: 'https://ca.test/dir', keySealed: 'v1:acct', keyId: 'k3' }, NOW_MS);
      assert.deepEqual((await s.certs.keyIds()).sort(), ['k1', 'k2', 'k3']);
      assert.equal(await s.certs.remove(b2.id, 'acme.example.test'), false);
      assert.equal(await s.certs.remove(a.id, 'acme.example.test'), true);
      assert.equal(await s.certs.get('acme.example.test'), undefined);
    });

    test('certs: challenges answer until they expire, from any node; removing a certificate drops them', async (t) => {
      const { c, s } = await fresh(t);
      const other = await c.open();
      const a = app('a');
      await s.apps.insert(a);
      await s.certs.insertPending(a.id, 'web.example.test', NOW_MS);
      await s.certs.putChallenge('tok1', 'web.example.test', 'tok1.thumb', BIG);
      await s.certs.putChallenge('tok2', 'web.example.test', 'tok2.thumb', BIG + 100);
      assert.equal(await other.certs.challenge('tok1', BIG - 1), 'tok1.thumb');
      assert.equal(await other.certs.challenge('tok1', BIG), undefined, 'expired');
      assert.equal(await other.certs.challenge('nope', 0), undefined);
      await s.certs.putChallenge('tok1', 'web.example.test', 'tok1.again', BIG + 100);
      assert.equal(await s.certs.challenge('tok1', BIG), 'tok1.again');
      await s.certs.deleteChallenge('tok1');
      assert.equal(await s.certs.challenge('tok1', 0), undefined);
      await s.certs.putChallenge('old', 'web.example.test', 'old.thumb', BIG - 5);
      assert.equal(await s.certs.purgeChallenges(BIG), 1);
      await s.certs.remove(a.id, 'web.example.test');
      assert.equal(await s.certs.challenge('tok2', 0), undefined, 'cascade');
      await assert.rejects(s.certs.putChallenge('tok3', 'gone.example.test', 'x', BIG), 'a challenge belongs to a certificate');
    });

    test('certs: accountOr keeps the first node’s account; setAccountUrl', async (t) => {
      const { s } = await fresh(t);
      const dir = 'https://ca.test/dir';
      assert.equal(await s.certs.account(dir), undefined);
      const [x, y] = await Promise.all([s.certs.accountOr({ directoryUrl: dir, keySealed: 'first', keyId: 'k1' }, NOW_MS), s.certs.accountOr({ directoryUrl: dir, keySealed: 'second', keyId: 'k1' }, NOW_MS)]);
      assert.equal(x.keySealed, y.keySealed);
      await s.certs.setAccountUrl(dir, 'https://ca.test/acct/1');
      assert.deepEqual(await s.certs.account(dir), { directoryUrl: dir, keySealed: x.keySealed, keyId: 'k1', url: 'https://ca.test/acct/1' });
      assert.equal(await s.certs.account('https://other.test/dir'), undefined);
    });

    test('hosts: upsert inserts then rewrites what a node announces; get, byName, list order', async (t) => {
      const { s } = await fresh(t);
      const h = host('host_a');
      await s.hosts.upsert(h);
      await s.hosts.upsert(host('host_b', { region: 'ams', name: 'alpha' }));
      await s.hosts.upsert(host('host_c', { region: 'ams', name: 'beta' }));
      await s.hosts.upsert(host('host_d', { region: 'ord', name: 'aaa', draining: true, heartbeat: 0 }));
      assert.deepEqual(await s.hosts.get('host_a'), h);
      assert.deepEqual(await s.hosts.byName('node-a'), h);
      assert.equal(await s.hosts.byName('nope'), undefined);
      assert.equal(await s.hosts.get('nope'), undefined);
      assert.deepEqual((await s.hosts.list()).map((x) => x.name), ['alpha', 'beta', 'node-a', 'aaa']);
      await s.hosts.setDraining('host_a', true);
      const announced = host('host_a', { name: 'node-a2', region: 'fra', address: '127.0.0.2', apiPort: 1, proxyPort: 2, cpus: 64, memoryMb: 1_048_576, runtimes: ['docker'], version: '0.2.0', lastSeenAt: NOW_MS + 5, startedAt: at(8), heartbeat: 1, draining: false, createdAt: at(58) });
      await s.hosts.upsert(announced);
      assert.deepEqual(await s.hosts.get('host_a'), { ...announced, draining: true, heartbeat: h.heartbeat, createdAt: h.createdAt }, 'draining, the heartbeat counter and the creation time stay');
      await assert.rejects(s.hosts.upsert(host('host_z', { name: 'alpha' })), 'host names are unique');
    });

    test('hosts: beat, setDraining, delete; settingOr keeps the first value', async (t) => {
      const { s } = await fresh(t);
      await s.hosts.upsert(host('host_a'));
      assert.equal(await s.hosts.beat('host_a', NOW_MS + 1000), true);
      assert.equal(await s.hosts.beat('host_a', NOW_MS + 2000), true);
      const h = (await s.hosts.get('host_a'))!;
      assert.equal(h.heartbeat, BIG + 2);
      assert.equal(h.lastSeenAt, NOW_MS + 2000);
      assert.equal(await s.hosts.beat('host_gone', NOW_MS), false);
      await s.hosts.setDraining('host_a', true);
      assert.equal((await s.hosts.get('host_a'))!.draining, true);
      await s.hosts.setDraining('host_a', false);
      assert.equal((await s.hosts.get('host_a'))!.draining, false);
      await s.hosts.delete('host_a');
      assert.equal(await s.hosts.get('host_a'), undefined);
      assert.equal(await s.hosts.beat('host_a', NOW_MS), false, 'a removed host’s heartbeat says so');
      assert.equal(await s.hosts.setting('api_token'), undefined);
      const firsts = await Promise.all([s.hosts.settingOr('api_token', 'first'), s.hosts.settingOr('api_token', 'second')]);
      assert.equal(firsts[0], 'first');
      assert.equal(firsts[1], 'first');
      assert.equal(await s.hosts.settingOr('api_token', 'third'), 'first');
      assert.equal(await s.hosts.setting('api_token'), 'first');
    });

    test('opening again applies nothing and keeps the data', async (t) => {
      const { c, s } = await fresh(t);
      assert.deepEqual(await migrationRows(s), KNOWN_MIGRATIONS);
      await s.apps.insert(app('a'));
      await s.close();
      const again = await c.open();
      assert.deepEqual(await migrationRows(again), KNOWN_MIGRATIONS);
      assert.deepEqual((await again.apps.list()).map((x) => x.name), ['a']);
    });

    test('a database with a schema newer than this code is refused, naming both versions', async (t) => {
      const { c, s } = await fresh(t);
      await sql`insert into kysely_migration (name, timestamp) values (${'9999_from_the_future'}, ${at(0)})`.execute(s.db);
      await s.close();
      const err = await c.open().then(
        () => assert.fail('opened a newer schema'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
      assert.equal(err.code, 'state_schema_newer');
      assert.match(err.message, /9999_from_the_future/);
      assert.match(err.message, new RegExp(KNOWN_MIGRATIONS.at(-1)!));
    });
  });
}

stateContract(sqlite);
stateContract(postgres);

// ---- PostgreSQL only ----

/** A loopback port nothing listens on (just released by the kernel). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function openError(where: StateLocation): Promise<UserError> {
  const err = await openState(where).then(
    async (s) => {
      await s.close();
      return assert.fail('opened');
    },
    (e: unknown) => e,
  );
  assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
  return err;
}

/**
 * A promise the case opens by hand. Call it before opening states: it is opened at the latest when the
 * case ends, before the states close (closing waits for every connection to come back to the pool).
 */
function gate(t: { after(fn: () => unknown): void }) {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  t.after(() => open());
  return { wait, open };
}

/** Tracks whether a promise has settled, without letting a rejection go unhandled. */
function watch<T>(p: Promise<T>) {
  const w = { settled: false, result: p };
  p.then(
    () => (w.settled = true),
    () => (w.settled = true),
  );
  return w;
}

describe('state on PostgreSQL: opening, wrong addresses, outages', { skip: postgres.skip }, () => {
  before(() => postgres.setup!(), { timeout: 60_000 });
  /** Whatever a case did to the server, the next one finds it running. */
  const keepRunning = (t: { after(fn: () => unknown): void }) => t.after(() => server!.start());

  test('three nodes opening one empty database at once all succeed, and migrate it once', async (t) => {
    const c = await postgres.fresh(t);
    const states = await Promise.all([c.open(), c.open(), c.open()]);
    // A migration run twice would fail its CREATE TABLE, and its node would not open: one row per migration.
    for (const s of states) assert.deepEqual(await migrationRows(s), KNOWN_MIGRATIONS);
    await states[0]!.apps.insert(app('a'));
    assert.equal((await states[2]!.apps.byName('a'))?.id, 'app_a');
  });

  test('a wrong password, a missing database and nothing listening are each one clear error', async (t) => {
    const s = server!;
    const wrong = s.url('postgres').replace(encodeURIComponent(s.password), 'not-the-password');
    const auth = await openError({ kind: 'postgres', url: wrong });
    assert.equal(auth.code, 'state_auth_failed');
    assert.doesNotMatch(auth.message, /not-the-password/, 'the password is not repeated');
    assert.match(auth.message, /\*\*\*/);
    const missing = await openError({ kind: 'postgres', url: s.url('no_such_database') });
    assert.equal(missing.code, 'state_database_missing');
    assert.match(missing.message, /no_such_database/);
    const port = await closedPort();
    const t0 = Date.now();
    const unreachable = await openError({ kind: 'postgres', url: `postgres://hangar:x@127.0.0.1:${port}/postgres`, waitMs: 20_000 });
    assert.equal(unreachable.code, 'state_unreachable');
    assert.ok(Date.now() - t0 < 5_000, 'opening does not wait for a database that is not there');
    t.diagnostic(`${auth.code}: ${auth.message}`);
  });

  test('a query sent while the database is stopped waits, and completes once it is back', { timeout: 30_000 }, async (t) => {
    keepRunning(t);
    const c = await postgres.fresh(t);
    const s = await c.open();
    await s.apps.insert(app('before'));
    await server!.stop();
    const write = watch(s.apps.insert(app('during')));
    const read = watch(s.apps.list());
    assert.equal(write.settled || read.settled, false);
    await server!.start();
    // A pool that failed fast would reject these: they waited out the outage instead.
    await write.result;
    assert.ok((await read.result).some((x) => x.name === 'before'));
    assert.deepEqual((await s.apps.list()).map((x) => x.name), ['before', 'during']);
  });

  test('a statement outside a transaction that loses its connection is sent again', { timeout: 30_000 }, async (t) => {
    keepRunning(t);
    const unlock = gate(t);
    const c = await postgres.fresh(t);
    const [s, blocker] = [await c.open(), await c.open()];
    await s.apps.insert(app('a'));
    // Another node holds the table, so the read is provably in flight (waiting on the lock) at the crash.
    const holding = watch(blocker.db.transaction().execute(async (tx) => {
      await sql`lock table apps in access exclusive mode`.execute(tx);
      await unlock.wait;
    }));
    const waiting = async () => (await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(s.db)).rows[0]!.n === 1;
    await waitUntil(async () => (await sql`select 1 from pg_locks where mode = 'AccessExclusiveLock' and relation = 'apps'::regclass`.execute(s.db)).rows.length === 1, 10_000, 'the lock to be held');
    const read = watch(s.apps.list());
    await waitUntil(waiting, 10_000, 'the read to wait on the lock');
    await server!.kill();
    await server!.start();
    assert.deepEqual((await read.result).map((x) => x.name), ['a']);
    unlock.open();
    await assert.rejects(holding.result, 'the locking transaction died with the server');
  });

  test('a transaction in flight when the server is killed fails whole: nothing of it is written', { timeout: 30_000 }, async (t) => {
    keepRunning(t);
    const reached = gate(t);
    const resume = gate(t);
    const c = await postgres.fresh(t);
    const s = await c.open();
    const a = app('a');
    const tx = watch(s.db.transaction().execute(async (trx) => {
      await trx.insertInto('apps').values({ id: a.id, name: a.name, created_at: a.createdAt, routing: '{}' }).execute();
      await trx.insertInto('cluster_settings').values({ name: 'half', value: 'written' }).execute();
      reached.open();
      await resume.wait;
      await trx.insertInto('cluster_settings').values({ name: 'other_half', value: 'written' }).execute();
    }));
    await reached.wait;
    await server!.kill();
    resume.open();
    await assert.rejects(tx.result);
    await server!.start();
    assert.equal(await s.apps.byName('a'), undefined);
    assert.equal(await count(s, 'cluster_settings'), 0);
    await s.apps.insert(a);
    assert.equal((await s.apps.byName('a'))?.id, a.id, 'the state works again after the crash');
  });
});
