import { ulid } from 'ulid';
import type { AppConfig } from '../config/index.js';
import { machineConfigFor, parseConfig, processGroups } from '../config/index.js';
import type { DeployEvent, Deployment, Release, StoredDeployEvent, StrategyName } from '../core/deploy.js';
import { ConflictError, NotFoundError, UserError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { LeaseService } from '../machines/leases.js';
import { DeployLeases, LEASE_REFRESH_MS } from './deploy-leases.js';
import { DeployEventStream } from './event-stream.js';
import { deployOptions, type DeployRequest } from './request.js';
import type { RunnerDeps } from './runner.js';
import { DeploymentRunner } from './runner.js';
import { strategyFor } from './strategies/index.js';
import { groupOf, type Control } from './strategy.js';
import { ControlChannel } from './controls.js';
import { selectMachines } from './targeting.js';
import { checkStrategyFit, minRunningWarnings, progressOf, requireCommand } from './preflight.js';

export type { DeployRequest } from './request.js';


/**
 * Which node runs a deploy. Each deploy is run by one node at a time, under a claim in the shared
 * state that the node renews; a deploy whose claim lapses (its node died) is taken over by another.
 */
export interface RunnerClaims {
  /** This node's host id. */
  self: () => string;
  /** How long a claim holds without renewal (renewed every third of it). */
  claimMs: number;
  /** Sends a control to the node that runs the deploy (another host's). */
  forwardControl?: (d: Deployment, c: Control) => Promise<Deployment>;
}

type ServiceDeps = Omit<RunnerDeps, 'emit' | 'nonce' | 'controls'> & { leases: LeaseService; claims?: RunnerClaims };

/** A single node claims its deploys too (for a generous while): the same code path as a cluster's. */
const SOLO_CLAIMS: RunnerClaims = { self: () => 'local', claimMs: 60_000 };

/**
 * Deploys run here, inside the daemon: submit validates everything before touching anything, makes the
 * release and the deployment, takes the machines' leases (one deploy per app), and runs it in the
 * background. Progress events are stored in order, so a client can attach, detach and re-attach.
 */
export class DeployService {
  private readonly runner: DeploymentRunner;
  private readonly eventStream: DeployEventStream;
  private readonly leases: DeployLeases;
  private readonly running = new Map<string, Promise<void>>();
  /** The deployment object each runner persists: a user's pause is written into it, not into a copy. */
  private readonly live = new Map<string, Deployment>();
  private readonly abort = new AbortController();
  private readonly channels = new Map<string, ControlChannel>();

  private get claims(): RunnerClaims {
    return this.deps.claims ?? SOLO_CLAIMS;
  }

  constructor(private readonly deps: ServiceDeps) {
    this.eventStream = new DeployEventStream({ state: deps.state, log: deps.log, runsHere: (id) => this.running.has(id) });
    this.leases = new DeployLeases({ leases: deps.leases, log: deps.log });
    this.runner = new DeploymentRunner({ ...deps, emit: (d, e) => this.emit(d, e), nonce: (id) => this.leases.nonce(id), controls: (id) => this.channel(id) });
  }

  async submit(appName: string, req: DeployRequest, opts: { fastPath?: boolean; description?: string } = {}): Promise<Deployment> {
    const app = await this.app(appName);
    // The app this request is for names the config, so a file without `app` (deployed with -a) loads.
    const { config: parsed } = parseConfig(req.configText, req.configPath, { app: appName });
    const cfg: AppConfig = JSON.parse(JSON.stringify(parsed));
    if (req.env) Object.assign(cfg.env, req.env);
    const options = deployOptions(cfg, req, opts.fastPath ?? false);
    strategyFor(options.strategy);
    const image = await this.deps.images.resolve(appName, req.image);
    for (const g of processGroups(cfg)) requireCommand(cfg, g, image.fullRef, image.runtime);
    await this.assertIdle(app);
    const all = await this.deps.machines.list(appName);
    checkStrategyFit(cfg, options.strategy, all);
    const t = options.targeting;
    const creating = !t.onlyMachines?.length && processGroups(cfg).some((g) => (!t.processGroups?.length || t.processGroups.includes(g)) && !all.some((m) => groupOf(m) === g));
    const targets = selectMachines(all, t, { creating });
    const id = ulid();
    await this.leases.take(id, targets, `deployment ${id} (${req.user})`);
    const now = new Date().toISOString();
    const version = await this.deps.state.releases.create(app.id, {
      status: 'running',
      imageRef: image.fullRef,
      strategy: options.strategy,
      config: cfg,
      user: req.user,
      description: opts.description ?? req.description ?? `deploy ${image.ref.tag}`,
      stable: false,
      createdAt: now,
      updatedAt: now,
    });
    const d: Deployment = { id, appName, releaseVersion: version, status: 'running', phase: 'pending', options, machines: targets.map(progressOf), extra: req.noCutover ? { noCutover: true } : {}, createdAt: now, updatedAt: now };
    await this.deps.state.deployments.insert(app.id, d);
    await this.claim(id);
    this.eventStream.writeFrom(id, 0);
    await this.emit(d, { type: 'phase', phase: 'pending', message: `release v${version}: ${options.strategy} deploy of ${image.fullRef} to ${targets.length} existing machine(s)` });
    for (const message of minRunningWarnings(cfg, all, image.fullRef)) await this.emit(d, { type: 'warning', message });
    this.start({ d, appId: app.id, cfg, image: image.fullRef, resumed: false, signal: this.abort.signal });
    return d;
  }

  /**
   * A new release of what the app runs now (its newest release's image and config), rolled health-gated:
   * how changed secrets reach running machines.
   */
  async redeployCurrent(appName: string, req: { user: string; description: string }): Promise<Deployment> {
    const app = await this.app(appName);
    const current = (await this.deps.state.releases.list(app.id))[0];
    if (!current) throw new UserError({ code: 'no_release', kind: 'not_found', message: `app ${appName} has no release yet`, hint: 'deploy it first: hangar deploy' });
    if (current.status !== 'complete') {
      throw new ConflictError('release_not_complete', `the newest release of ${appName}, v${current.version}, is ${current.status}; it will not be shipped again`, 'deploy a working version first: hangar deploy');
    }
    return this.submitConfig(appName, current, current.config as AppConfig, { user: req.user, strategy: 'rolling' }, req.description);
  }

  /**
   * Machine lifetimes (`[deploy] max_machine_age`): a started machine older than that, still on a release
   * older than the newest complete one, and idle, is recycled onto that release (new instance next to
   * the old, health-gated, the old one drains). Machines under a deploy's lease are left alone.
   */
  async recycleStale(idleMs: number): Promise<void> {
    for (const app of await this.deps.state.apps.list()) {
      if ((await this.deps.state.deployments.list(app.id, 'running')).length > 0) continue;
      const rel = (await this.deps.state.releases.list(app.id)).find((r) => r.status === 'complete');
      const cfg = rel?.config as AppConfig | undefined;
      const maxAge = cfg?.deploy.maxMachineAgeMs;
      if (!rel || !cfg || !maxAge) continue;
      for (const m of await this.deps.machines.list(app.name)) {
        const version = Number(m.config.metadata.fly_release_version ?? 0);
        const age = m.startedAt ? Date.now() - Date.parse(m.startedAt) : 0;
        if (m.state !== 'started' || age < maxAge || version >= rel.version || this.deps.traffic.idleFor(app.name, m.id) < idleMs) continue;
        const config = machineConfigFor(cfg, { group: groupOf(m), image: rel.imageRef, releaseVersion: rel.version });
        config.metadata = { ...config.metadata, primary_region: cfg.primaryRegion };
        this.deps.log.info({ app: app.name, machine: m.id, ageMs: age, from: version, to: rel.version }, 'recycling a machine past max_machine_age');
        const wait = { timeoutMs: cfg.deploy.waitTimeoutMs, minUpMs: 1000 };
        await this.deps.machines
          .surgeUpdate(app.name, m.id, { config }, undefined, (ref, port, exited) => this.deps.readiness.waitReady({ ...m, config }, ref, port, exited, wait), wait)
          .catch((err) => this.deps.log.warn({ err: (err as Error).message, machine: m.id }, 'could not recycle the machine'));
      }
    }
  }

  /** Every event of every deployment (for notifications). */
  onAnyEvent(fn: (d: Deployment, e: DeployEvent) => void): () => void {
    return this.eventStream.onAny(fn);
  }

  /** Deploys release `version` (default: the newest stable one before the current) on the fast path. */
  async rollback(appName: string, req: { version?: number; user: string; strategy?: StrategyName }): Promise<Deployment> {
    const app = await this.app(appName);
    const releases = await this.deps.state.releases.list(app.id);
    const current = releases[0];
    const target = req.version !== undefined ? releases.find((r) => r.version === req.version) : releases.find((r) => r.stable && r.version !== current?.version);
    if (!target) {
      throw new UserError({
        code: req.version !== undefined ? 'release_not_found' : 'no_stable_release',
        kind: 'not_found',
        message: req.version !== undefined ? `app ${appName} has no release v${req.version}` : `app ${appName} has no stable release before v${current?.version ?? 0} to roll back to`,
        hint: 'see hangar releases; roll back to a version with: hangar releases rollback VERSION',
      });
    }
    const cfg = target.config as AppConfig;
    return this.submitConfig(appName, target, cfg, req);
  }

  private async submitConfig(appName: string, target: Release, cfg: AppConfig, req: { user: string; strategy?: StrategyName }, description = `rollback to v${target.version}`): Promise<Deployment> {
    const app = await this.app(appName);
    const options = deployOptions(cfg, { image: target.imageRef, configText: '', configPath: '', user: req.user, strategy: req.strategy ?? (cfg.deploy.strategy === 'canary' || cfg.deploy.strategy === 'bluegreen' ? 'rolling' : cfg.deploy.strategy), skipReleaseCommand: true }, true);
    strategyFor(options.strategy);
    const image = await this.deps.images.resolve(appName, target.imageRef);
    // Checked before anything is written: an image that is gone is one clear refusal, not a failed deploy.
    await this.deps.images.verify(image.ref, image.runtime).catch((err) => {
      throw new UserError({
        code: 'release_image_gone',
        kind: 'conflict',
        message: `v${target.version}'s image ${image.fullRef} can no longer be deployed: ${(err as Error).message}`,
        hint: 'deploy the app from its source again (hangar deploy), or roll back to another release',
        cause: err,
      });
    });
    await this.assertIdle(app);
    const targets = await this.deps.machines.list(appName);
    const id = ulid();
    await this.leases.take(id, targets, `deployment ${id} (${req.user})`);
    const now = new Date().toISOString();
    const version = await this.deps.state.releases.create(app.id, { status: 'running', imageRef: image.fullRef, strategy: options.strategy, config: cfg, user: req.user, description, stable: false, createdAt: now, updatedAt: now });
    const d: Deployment = { id, appName, releaseVersion: version, status: 'running', phase: 'pending', options, machines: targets.map(progressOf), createdAt: now, updatedAt: now };
    await this.deps.state.deployments.insert(app.id, d);
    this.eventStream.writeFrom(id, 0);
    await this.emit(d, { type: 'phase', phase: 'pending', message: `release v${version}: ${description} (${image.fullRef}), fast path` });
    this.start({ d, appId: app.id, cfg, image: image.fullRef, resumed: false, signal: this.abort.signal });
    return d;
  }

  /**
   * Retries the machines a failed deploy left failed (all, or one), on the same release. Meant for
   * deploys run with --no-auto-rollback, as the seed's "retry failed updates individually".
   */
  async retry(id: string, machineId?: string): Promise<{ d: Deployment; fromSeq: number }> {
    const d = await this.get(id);
    const app = await this.app(d.appName);
    if (d.status !== 'failed') throw new ConflictError('deployment_not_failed', `deployment ${id} is ${d.status}; only a failed deployment can be retried`, 'see hangar deployments status');
    const failed = d.machines.filter((p) => p.outcome === 'failed' && (!machineId || p.machineId === machineId));
    if (failed.length === 0) throw new UserError({ code: 'nothing_to_retry', message: machineId ? `machine ${machineId} did not fail in deployment ${id}` : `deployment ${id} has no failed machine`, hint: 'see hangar deployments status' });
    const release = await this.deps.state.releases.get(app.id, d.releaseVersion);
    const newer = (await this.deps.state.releases.list(app.id))[0];
    if (!release || newer?.version !== d.releaseVersion) throw new ConflictError('release_superseded', `release v${d.releaseVersion} is no longer the newest; deploy again instead`);
    await this.assertIdle(app);
    const all = await this.deps.machines.list(d.appName);
    await this.leases.take(d.id, all.filter((m) => failed.some((p) => p.machineId === m.id)), `deployment ${d.id} (${release.user})`);
    for (const p of failed) p.outcome = 'pending';
    d.status = 'running';
    d.phase = 'update_machines';
    delete d.error;
    d.updatedAt = new Date().toISOString();
    await this.deps.state.deployments.save(d);
    await this.deps.state.releases.setStatus(app.id, d.releaseVersion, 'running', false);
    const fromSeq = await this.deps.state.deployments.lastSeq(d.id);
    this.eventStream.writeFrom(d.id, fromSeq);
    await this.emit(d, { type: 'phase', phase: 'update_machines', message: `retrying ${failed.length} failed machine(s)` });
    this.start({ d, appId: app.id, cfg: release.config as AppConfig, image: release.imageRef, resumed: true, signal: this.abort.signal });
    return { d, fromSeq };
  }

  /** promote / abort / pause / resume a running deploy whose strategy takes that control. */
  async control(id: string, c: Control): Promise<Deployment> {
    const d = await this.get(id);
    const accepted = strategyFor(d.options.strategy).controls ?? [];
    if (d.status === 'running' && !this.running.has(id) && d.runner && d.runner !== this.claims.self() && this.claims.forwardControl) return this.claims.forwardControl(d, c);
    if (d.status !== 'running' || !this.running.has(id)) {
      throw new ConflictError('deployment_not_running', `deployment ${id} is ${d.status}; there is nothing to ${c}`, 'see hangar deployments status');
    }
    if (!accepted.includes(c)) {
      throw new ConflictError('control_not_accepted', `a ${d.options.strategy} deploy cannot be told to ${c}${accepted.length ? ` (it takes: ${accepted.join(', ')})` : ''}`, 'promote/abort/pause/resume apply to canary deploys; promote/abort to a staged bluegreen deploy');
    }
    if (c === 'promote' && d.options.strategy === 'bluegreen' && d.phase !== 'awaiting_promotion') {
      throw new ConflictError('not_waiting', `deployment ${id} is not waiting for promotion (phase ${d.phase})`, 'promote once green is healthy: hangar deployments status shows the phase');
    }
    const live = this.live.get(id) ?? d;
    if (c === 'pause' || c === 'resume') {
      // Persisted before it takes effect, so a daemon restart in between keeps what the user decided.
      live.paused = c === 'pause';
      live.updatedAt = new Date().toISOString();
      await this.deps.state.deployments.save(live);
    }
    this.channel(id).send(c);
    await this.emit(live, { type: 'warning', message: `${c} requested` });
    return live;
  }

  private channel(id: string): ControlChannel {
    let ch = this.channels.get(id);
    if (!ch) {
      ch = new ControlChannel();
      this.channels.set(id, ch);
    }
    return ch;
  }

  /**
   * At daemon start: every deployment left running that this node can claim resumes (or, if it never
   * touched a machine, is interrupted). A deploy another live node runs is left to it.
   */
  async resumeAll(): Promise<void> {
    for (const d of await this.deps.state.deployments.list(undefined, 'running')) {
      if (!(await this.claim(d.id))) continue;
      await this.resume(d, d.paused ? `the daemon restarted during this deploy; it stays paused until: hangar deployments resume ${d.id}` : 'the daemon restarted during this deploy; resuming');
    }
  }

  /** Takes over the deploys whose node stopped renewing its claim (it died or lost the database). */
  async adoptOrphans(): Promise<void> {
    for (const id of await this.deps.state.deployments.orphaned(Date.now())) {
      if (this.running.has(id) || !(await this.claim(id))) continue;
      const d = await this.get(id);
      this.deps.log.info({ deployment: id }, 'taking over a deploy whose node stopped');
      await this.resume(d, `the node running this deploy stopped; host ${this.claims.self()} took it over${d.paused ? ` (it stays paused until: hangar deployments resume ${d.id})` : ''}`);
    }
  }

  private async claim(id: string): Promise<boolean> {
    const now = Date.now();
    return this.deps.state.deployments.claimRunner(id, this.claims.self(), now + this.claims.claimMs, now);
  }

  private async resume(d: Deployment, note: string): Promise<void> {
    {
      const app = await this.deps.state.apps.byName(d.appName);
      const release = app && (await this.deps.state.releases.get(app.id, d.releaseVersion));
      if (!app || !release) return;
      this.eventStream.writeFrom(d.id, await this.deps.state.deployments.lastSeq(d.id));
      if (d.phase === 'pending' || d.phase === 'release_command') {
        d.status = 'interrupted';
        d.phase = 'done';
        d.error = 'the daemon stopped before any machine was changed';
        d.updatedAt = new Date().toISOString();
        await this.deps.state.deployments.save(d);
        await this.deps.state.releases.setStatus(app.id, d.releaseVersion, 'interrupted', false);
        await this.emit(d, { type: 'done', status: 'interrupted', release: d.releaseVersion, message: `release v${d.releaseVersion} interrupted: ${d.error}; nothing was changed`, url: this.deps.appUrl(d.appName) });
        return;
      }
      for (const p of d.machines) {
        if (p.outcome !== 'updating') continue;
        const m = await this.deps.machines.get(d.appName, p.machineId).catch(() => undefined);
        p.outcome = m?.config.metadata.fly_release_version === String(d.releaseVersion) ? 'updated' : 'pending';
      }
      const machines = await this.deps.machines.list(d.appName);
      await this.leases.take(d.id, machines.filter((m) => d.machines.some((p) => p.machineId === m.id)), `deployment ${d.id} (${release.user})`);
      await this.emit(d, { type: 'warning', message: note });
      if (d.paused) this.channel(d.id).send('pause');
      this.start({ d, appId: app.id, cfg: release.config as AppConfig, image: release.imageRef, resumed: true, signal: this.abort.signal });
    }
  }

  /** Stops following running deploys (daemon shutdown); the next daemon resumes them. */
  async stop(): Promise<void> {
    this.eventStream.stop();
    this.abort.abort();
    await Promise.allSettled([...this.running.values()]);
  }

  async get(id: string): Promise<Deployment> {
    const d = await this.deps.state.deployments.get(id);
    if (!d) throw new NotFoundError('deployment', id, 'list them with: hangar deployments list');
    return d;
  }

  async list(appName: string): Promise<Deployment[]> {
    return this.deps.state.deployments.list((await this.app(appName)).id);
  }

  async releases(appName: string): Promise<Release[]> {
    return this.deps.state.releases.list((await this.app(appName)).id);
  }

  events(id: string, after = 0): Promise<StoredDeployEvent[]> {
    return this.deps.state.deployments.events(id, after);
  }

  /**
   * Calls `fn` with each new event of the deploy. A deploy another node runs is followed from the shared
   * state (every FOLLOW_POLL_MS), so a watcher can attach through any node, and keeps following if this
   * node takes the deploy over.
   */
  onEvent(id: string, fn: (e: StoredDeployEvent) => void): () => void {
    return this.eventStream.on(id, fn);
  }

  private start(input: Parameters<DeploymentRunner['run']>[0]): void {
    const { d } = input;
    this.live.set(d.id, d);
    const refresh = setInterval(() => void this.leases.refresh(d), LEASE_REFRESH_MS);
    // The claim is renewed while the deploy runs here; lost (another node took it), this node lets go.
    const lost = new AbortController();
    const signal = AbortSignal.any([input.signal, lost.signal]);
    const renew = setInterval(() => {
      this.claim(d.id)
        .then((held) => {
          if (held || !this.running.has(d.id)) return;
          this.deps.log.warn({ deployment: d.id }, 'another node took this deploy over; stopping here');
          lost.abort();
        })
        .catch((err) => this.deps.log.warn({ err, deployment: d.id }, 'could not renew the deploy claim'));
    }, Math.max(50, Math.floor(this.claims.claimMs / 3)));
    const p = this.runner
      .run({ ...input, signal })
      .catch((err) => this.deps.log.error({ err, deployment: d.id }, 'deployment runner failed'))
      .finally(async () => {
        clearInterval(refresh);
        clearInterval(renew);
        this.running.delete(d.id);
        this.live.delete(d.id);
        this.channels.delete(d.id);
        if (!signal.aborted) await this.leases.release(d);
      });
    this.running.set(d.id, p);
  }

  private emit(d: Deployment, event: DeployEvent): Promise<void> {
    return this.eventStream.emit(d, event);
  }


  private async app(name: string): Promise<App> {
    const app = await this.deps.state.apps.byName(name);
    if (!app) throw new NotFoundError('app', name, `create it with: hangar apps create ${name} (hangar deploy does this for you)`);
    return app;
  }

  private async assertIdle(app: App): Promise<void> {
    const running = await this.deps.state.deployments.list(app.id, 'running');
    if (running.length > 0) {
      const r = running[0]!;
      throw new ConflictError('deploy_in_progress', `app ${app.name} is being deployed by deployment ${r.id} (release v${r.releaseVersion}, started ${r.createdAt})`, `wait for it: hangar deployments watch ${r.id}`);
    }
  }
}
