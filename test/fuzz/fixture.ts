import { parseDuration } from '../../src/core/duration.js';
import { echoConfig, uploadEcho, waitUntil, type TestDaemon } from '../helpers.js';
import type { Violation } from './checks.js';
import type { FixtureRef } from './schema-arbitrary.js';

/**
 * The real things generated requests point at: an app, its machines, images, deployments and releases,
 * read back from the daemon before each request (requests change them). Also what the fuzzer itself
 * holds (leases), what it saw wedged, and the end-of-run check that every machine can still be stopped
 * and destroyed.
 */

interface MachineRow {
  id: string;
  state: string;
  config?: { stop_config?: { timeout?: string } };
}

/** How many requests a lease the fuzzer acquired is kept before the fuzzer releases it. */
const LEASE_KEPT_FOR = 25;
/** A made-up machine id (right shape, no such machine) for when the app has none. */
const NO_MACHINE = '0123456789abcd';
const NONE: MachineRow = { id: NO_MACHINE, state: 'destroyed' };

export class Fixture {
  machines: MachineRow[] = [];
  images: Array<{ tag: string; ref: string }> = [];
  deployments: string[] = [];
  releases: number[] = [];
  /** Machines that stopped answering: not picked again, so one wedge does not stall the run. */
  readonly wedged = new Set<string>();
  readonly leases = new Map<string, { nonce: string; releaseAt: number }>();
  /** How often `restore` had to create the app again. */
  recreated = 0;

  constructor(
    private readonly d: TestDaemon,
    readonly app: string,
    readonly configText: string,
  ) {}

  /** Reads the fixture back; rejects when the daemon does not answer these listings within 15 s. */
  async refresh(): Promise<void> {
    const get = (path: string) => withDeadline(this.d.api('GET', path), 15_000);
    const [ms, imgs, deps, rels] = await Promise.all([
      get(`/v1/apps/${this.app}/machines?include_deleted=true`),
      get(`/v1/apps/${this.app}/images`),
      get(`/v1/apps/${this.app}/deployments`),
      get(`/v1/apps/${this.app}/releases`),
    ]);
    this.machines = ms.status === 200 && Array.isArray(ms.body) ? ms.body : [];
    this.images = imgs.status === 200 ? imgs.body : [];
    this.deployments = deps.status === 200 ? deps.body.map((x: { id: string }) => x.id) : [];
    this.releases = rels.status === 200 ? rels.body.map((x: { version: number }) => x.version) : [];
  }

  /** How long a stop of this machine may rightly take: its own stop_config timeout (ms). */
  stopWaitMs(id: string): number {
    return parseDuration(this.machines.find((m) => m.id === id)?.config?.stop_config?.timeout) ?? 0;
  }

  live(): MachineRow[] {
    return this.machines.filter((m) => m.state !== 'destroyed' && !this.wedged.has(m.id));
  }

  /** The concrete value of a fixture reference; mostly live things, sometimes destroyed or wedged ones. */
  resolve(ref: FixtureRef): string | number | string[] {
    const n = ref.pick;
    const from = <T>(xs: T[], fallback: T): T => (xs.length ? xs[n % xs.length]! : fallback);
    switch (ref.role) {
      case 'app':
        return this.app;
      case 'machine': {
        const gone = this.machines.filter((m) => !this.live().includes(m));
        return (n % 5 === 4 && gone.length ? from(gone, NONE) : from(this.live(), NONE)).id;
      }
      case 'machineList':
        return [...new Set([from(this.live(), NONE).id, this.live()[(n + 1) % Math.max(1, this.live().length)]?.id ?? NO_MACHINE])].join(',');
      case 'imageTag':
        return from(this.images, { tag: 'latest', ref: '' }).tag;
      case 'imageRef':
        return from(this.images, { tag: '', ref: `hangar.local/${this.app}:latest` }).ref;
      case 'deployment':
        return from(this.deployments, '01ARZ3NDEKTSV4RRFFQ69G5FAV');
      case 'releaseVersion':
        return from(this.releases, 1);
      case 'configText':
        return this.configText;
      default:
        throw new Error(`no fixture value for ${ref.role}`);
    }
  }

  /**
   * Keeps the run meaningful while requests destroy things: the app exists (recreated with an uploaded
   * image when a request destroyed it) and has at least two live machines.
   */
  async restore(): Promise<Violation[]> {
    const out: Violation[] = [];
    if ((await this.d.api('GET', `/v1/apps/${this.app}`)).status === 404) {
      const created = await this.d.api('POST', '/v1/apps', { app_name: this.app });
      if (created.status !== 201) return [{ kind: 'fixture', message: `could not recreate app ${this.app}: ${created.status} ${JSON.stringify(created.body).slice(0, 200)}` }];
      await uploadEcho(this.d, this.app);
      this.recreated++;
      this.wedged.clear();
      this.leases.clear();
      await this.refresh();
    }
    while (this.live().length < 2) {
      const image = this.images.at(-1)?.ref ?? (await uploadEcho(this.d, this.app));
      const r = await this.d.api('POST', `/v1/apps/${this.app}/machines`, { config: echoConfig(image) });
      if (r.status !== 201) {
        out.push({ kind: 'fixture', message: `could not create a machine for ${this.app}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}` });
        break;
      }
      await this.refresh();
    }
    return out;
  }

  /** Releases the leases the fuzzer has kept long enough (all of them with `all`). */
  async releaseLeases(index: number, all = false): Promise<void> {
    for (const [id, l] of this.leases) {
      if (!all && l.releaseAt > index) continue;
      this.leases.delete(id);
      await this.d.api('DELETE', `/v1/apps/${this.app}/machines/${id}/lease`, undefined, { 'hangar-lease-nonce': l.nonce });
    }
  }

  /** Remembers a lease a generated request acquired, so the fuzzer can use and release it. */
  noteLease(machineId: string, body: unknown, index: number): void {
    const nonce = (body as { nonce?: unknown } | undefined)?.nonce;
    if (typeof nonce === 'string') this.leases.set(machineId, { nonce, releaseAt: index + LEASE_KEPT_FOR });
  }

  /**
   * The end of the run: every machine of the app can be stopped (if it runs) and destroyed, and the
   * app destroyed. Deploys still running are aborted first and the fuzzer's leases released, as an
   * operator would; what the daemon then refuses is a machine left in a state it cannot leave.
   */
  async teardown(): Promise<Violation[]> {
    const out: Violation[] = [];
    const bad = (message: string) => out.push({ kind: 'teardown', message });
    await this.releaseLeases(0, true);
    await this.abortDeploys(bad);
    await this.refresh();
    for (const m of this.machines.filter((x) => x.state !== 'destroyed')) await this.stopAndDestroy(m, bad);
    const gone = await this.d.api('DELETE', `/v1/apps/${this.app}?force=true`).catch((e: Error) => ({ status: 0, body: e.message }));
    if (gone.status < 200 || gone.status > 299) bad(`DELETE /v1/apps/${this.app}?force=true answered ${gone.status} ${JSON.stringify(gone.body).slice(0, 300)}`);
    return out;
  }

  /** Deploys still running are aborted where their strategy allows it (canary, bluegreen), and must then end. */
  private async abortDeploys(bad: (m: string) => void): Promise<void> {
    const running = async () => {
      const list = await this.d.api('GET', `/v1/apps/${this.app}/deployments`);
      return Array.isArray(list.body) ? (list.body as Array<{ id: string; status: string }>).filter((x) => x.status === 'running') : [];
    };
    for (const dep of await running()) await this.d.api('POST', `/v1/deployments/${dep.id}/abort`);
    await waitUntil(async () => (await running()).length === 0, 60_000, 'running deployments to end').catch(async (e: Error) => bad(`${e.message}: ${JSON.stringify(await running()).slice(0, 300)}`));
  }

  private async stopAndDestroy(m: MachineRow, bad: (m: string) => void): Promise<void> {
    const path = `/v1/apps/${this.app}/machines/${m.id}`;
    const call = (method: string, p: string, body?: unknown) => withDeadline(this.d.api(method, p, body), 30_000).catch((e: Error) => ({ status: 0, body: e.message }));
    const ok = (s: number) => s >= 200 && s <= 299;
    if (m.state === 'started') {
      // A short timeout of our own: the machine's stop_config may be a generated one that waits long.
      const stop = await call('POST', `${path}/stop`, { timeout: '2s' });
      if (!ok(stop.status)) bad(`machine ${m.id} (${m.state}): POST ${path}/stop answered ${stop.status} ${JSON.stringify(stop.body).slice(0, 300)}`);
    }
    const destroy = await call('DELETE', `${path}?force=true`);
    if (!ok(destroy.status)) bad(`machine ${m.id} (${m.state}): DELETE ${path}?force=true answered ${destroy.status} ${JSON.stringify(destroy.body).slice(0, 300)}`);
    const state = async () => (await call('GET', path)).body?.state;
    await waitUntil(async () => (await state()) === 'destroyed', 15_000, `machine ${m.id} to be destroyed`).catch(async () => bad(`machine ${m.id} (${m.state} before): not destroyed, state ${await state()}`));
  }
}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}
