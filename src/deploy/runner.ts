import type { Logger } from 'pino';
import type { AppConfig } from '../config/index.js';
import { machineConfigFor, processGroups, splitCommand } from '../config/index.js';
import type { DeployEvent, Deployment, DeploymentPhase, MachineOutcome, MachineProgress, MachineStep, ReleaseStatus } from '../core/deploy.js';
import type { Machine, MachineConfig, RuntimeKind } from '../core/types.js';
import { formatDuration } from '../core/duration.js';
import type { State } from '../state/index.js';
import type { MachineOps } from '../machines/ops.js';
import type { SurgeReady } from '../machines/replace.js';
import type { ImageResolver } from '../machines/images.js';
import type { InstanceExit, InstanceRef, RuntimeDriver } from '../runtime/driver.js';
import type { LogCollector } from '../logs/collector.js';
import { runReleaseCommand } from './release-command.js';
import { runMachineChecks, taskEnv } from './machine-checks.js';
import { DeployFailure, groupOf, type StrategyContext, type UpdateMode } from './strategy.js';
import { strategyFor } from './strategies/index.js';
import type { ControlChannel } from './controls.js';
import type { TrafficPin, TrafficSet } from '../core/types.js';
import type { TrafficWindows } from '../core/window-stats.js';
import type { SecretsProvider } from '../machines/lifecycle.js';

/** What the runner needs from the proxy side: readiness of new instances and health of current ones. */
export interface Readiness {
  waitReady(m: Machine, ref: InstanceRef, port: number, exited: Promise<InstanceExit>, opts: { timeoutMs: number; minUpMs: number }): Promise<void>;
  /** A machine's current instance passing its checks (new machines of a first deploy). */
  waitHealthy(m: Machine, exited: Promise<{ exitCode: number | null; signal: string | null }>, opts: { timeoutMs: number; minUpMs: number }): Promise<void>;
  /** Resolves when the machine's current instance exits (a crash while waiting fails fast). */
  exitOf(m: Machine): Promise<{ exitCode: number | null; signal: string | null }>;
  allPassing(machineId: string): boolean;
}

/** Traffic and metrics: the proxy side a bluegreen or canary deploy steers. */
export interface TrafficControl {
  setTraffic(app: string, t: { sets: TrafficSet[] | null; pins: TrafficPin[] | null }): Promise<void>;
  windows: TrafficWindows['windows'];
  idleFor(app: string, machineId: string): number;
}

export interface RunnerDeps {
  traffic: TrafficControl;
  controls: (deploymentId: string) => ControlChannel;
  state: State;
  machines: MachineOps;
  images: ImageResolver;
  readiness: Readiness;
  /** The driver for a runtime (the release command runs on the new image's). */
  driverFor: (kind: RuntimeKind) => RuntimeDriver;
  /**
   * Waits until the runtime's engine answers again (true) or `timeoutMs` passes (false). A step that
   * failed because the Docker Engine stopped answering is retried after it, instead of failing the deploy.
   */
  runtimeBack?: (kind: RuntimeKind, timeoutMs: number, signal: AbortSignal) => Promise<boolean>;
  logs: LogCollector;
  log: Logger;
  appUrl: (app: string) => string | null;
  emit: (d: Deployment, e: DeployEvent) => Promise<void>;
  /** The app's secrets, for the release command's environment (machines get theirs from the lifecycle). */
  secrets?: SecretsProvider;
  nonce: (machineId: string) => string | undefined;
}

export interface RunInput {
  d: Deployment;
  appId: string;
  cfg: AppConfig;
  image: string;
  /** Resume: what is already done is skipped. */
  resumed: boolean;
  signal: AbortSignal;
}

const MIN_UP_MS = 1000;

/**
 * Executes one deployment as a straight list of phases — release command, create machines for new
 * groups, update machines (the strategy), and, on failure, roll back what was updated. Every transition
 * is persisted before it is acted on.
 */
export class DeploymentRunner {
  constructor(private readonly deps: RunnerDeps) {}

  async run(input: RunInput): Promise<void> {
    const { d } = input;
    let status: ReleaseStatus = 'complete';
    let failure: DeployFailure | undefined;
    try {
      if (!input.resumed || d.phase === 'pending') await this.releaseCommand(input);
      if (!input.resumed || d.phase === 'pending' || d.phase === 'release_command' || d.phase === 'create_machines') await this.createMachines(input);
      if (d.phase === 'rolling_back') throw new DeployFailure('rolling_back', d.error ?? 'the deploy failed before the daemon restarted');
      const strategy = strategyFor(d.options.strategy);
      if (input.resumed && strategy.undo && !(strategy.resumable?.(d) ?? false) && d.phase !== 'pending' && d.phase !== 'create_machines') {
        // Its persisted state does not say where it was (a machine set half made): go back to one known state rather than guess.
        throw new DeployFailure(d.phase, 'the daemon restarted before the new machines were all up; rolling back to the stable set');
      }
      await this.updateMachines(input);
    } catch (err) {
      if (input.signal.aborted) return;
      failure = err instanceof DeployFailure ? err : new DeployFailure(d.phase, (err as Error).message);
      status = await this.recover(input, failure);
    }
    if (input.signal.aborted) return;
    await this.finish(input, status, failure);
  }

  private async phase(input: RunInput, phase: DeploymentPhase, message: string): Promise<void> {
    input.d.phase = phase;
    await this.persist(input);
    await this.deps.emit(input.d, { type: 'phase', phase, message });
  }

  async persist(input: RunInput): Promise<void> {
    if (input.signal.aborted) throw new Error('daemon stopping');
    input.d.updatedAt = new Date().toISOString();
    await this.deps.state.deployments.save(input.d);
  }

  private async releaseCommand(input: RunInput): Promise<void> {
    const cmd = input.cfg.deploy.releaseCommand;
    if (!cmd || input.d.options.skipReleaseCommand) return;
    await this.phase(input, 'release_command', `running release command: ${cmd}`);
    try {
      await this.withRuntime(input, 'release command', () => this.runRelease(input, cmd));
    } catch (err) {
      const details = ((err as { details?: Array<{ message: string }> }).details ?? []).map((x) => x.message);
      throw new DeployFailure('release_command', (err as Error).message, details);
    }
  }

  private async runRelease(input: RunInput, cmd: string): Promise<void> {
    const image = await this.deps.images.resolve(input.d.appName, input.image);
    await runReleaseCommand(
      { driver: this.deps.driverFor(image.runtime), logs: this.deps.logs },
      {
        app: input.d.appName,
        region: input.cfg.primaryRegion,
        image,
        argv: splitCommand(cmd),
        env: await taskEnv(this.deps, input.d.appName, input.cfg, image),
        timeoutMs: input.d.options.releaseCommandTimeoutMs,
        onLine: (line) => void this.deps.emit(input.d, { type: 'log', source: 'release_command', line }),
      },
    );
  }

  /**
   * Runs a step that needs a runtime. When it fails because the Docker Engine stopped answering, the
   * deploy says so and waits (up to wait_timeout) for the engine, then runs the step again: machines
   * keep what they run meanwhile, and nothing is rolled back for an outage.
   */
  private async withRuntime<T>(input: RunInput, what: string, fn: () => Promise<T>): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if ((err as { code?: string }).code !== 'docker_unavailable' || !this.deps.runtimeBack || input.signal.aborted) throw err;
        const limit = input.d.options.waitTimeoutMs;
        await this.deps.emit(input.d, { type: 'warning', message: `${what}: ${(err as Error).message}; the deploy is paused until the Docker Engine answers again (up to ${formatDuration(limit)})` });
        if (!(await this.deps.runtimeBack('docker', limit, input.signal))) throw err;
        await this.deps.emit(input.d, { type: 'phase', phase: input.d.phase, message: `the Docker Engine answers again; resuming (${what})` });
      }
    }
  }

  /** First deploy (or a new process group): 2 machines per group with a service, 1 otherwise. */
  private async createMachines(input: RunInput): Promise<void> {
    const { d, cfg } = input;
    const t = d.options.targeting;
    if (t.onlyMachines?.length) return;
    const existing = await this.deps.machines.list(d.appName);
    const groups = processGroups(cfg).filter((g) => (!t.processGroups?.length || t.processGroups.includes(g)) && !existing.some((m) => groupOf(m) === g));
    if (groups.length === 0) return;
    await this.phase(input, 'create_machines', `creating machines for ${groups.join(', ')}`);
    const made: Promise<void>[] = [];
    for (const g of groups) {
      const config = this.desired(input, g);
      const count = config.services.length > 0 ? 2 : 1;
      for (let i = 0; i < count; i++) {
        const m = await this.deps.machines.create(d.appName, { region: cfg.primaryRegion, config, skipLaunch: true });
        d.machines.push({ machineId: m.id, group: g, region: m.region, outcome: 'pending', fromVersion: null, fromImage: '', fromConfig: null });
        await this.persist(input);
        made.push(this.startNew(input, m.id, g));
      }
    }
    await Promise.all(made);
    const failed = d.machines.filter((p) => p.outcome === 'failed').length;
    if (failed > d.options.maxFailures) throw new DeployFailure('create_machines', `${failed} new machine(s) failed to start`);
  }

  /** Starts a machine made by this deploy and waits for its checks, recording the outcome. */
  private async startNew(input: RunInput, id: string, group: string): Promise<void> {
    try {
      const m = await this.withRuntime(input, `starting ${id}`, () => this.deps.machines.start(input.d.appName, id));
      await this.deps.readiness.waitHealthy(m, this.deps.readiness.exitOf(m), { timeoutMs: input.d.options.waitTimeoutMs, minUpMs: input.d.options.fastPath ? 0 : MIN_UP_MS });
      await this.machineChecks(input, id);
      await this.setOutcome(input, id, 'created', `created machine ${id} (${group}) in ${m.region}`);
    } catch (err) {
      if (input.signal.aborted) throw err;
      await this.setOutcome(input, id, 'failed', `${id} failed: ${(err as Error).message}`);
    }
  }

  private async updateMachines(input: RunInput): Promise<void> {
    const { d } = input;
    const pending = d.machines.filter((p) => (p.outcome === 'pending' || p.outcome === 'updating') && p.fromConfig !== null);
    if (pending.length === 0) return;
    const targets: Machine[] = [];
    for (const p of pending) targets.push(await this.deps.machines.get(d.appName, p.machineId));
    if (d.phase !== 'update_machines' && (d.options.strategy === 'rolling' || d.options.strategy === 'immediate' || d.options.strategy === 'rotate')) {
      await this.phase(input, 'update_machines', `updating ${targets.length} machine(s) with the ${d.options.strategy} strategy`);
    }
    await strategyFor(d.options.strategy).run(this.context(input, targets));
  }

  /** The strategy's view of the runner. */
  context(input: RunInput, targets: Machine[]): StrategyContext {
    const { d } = input;
    return {
      deployment: d,
      cfg: input.cfg,
      targets,
      update: (m, mode) => this.updateOne(input, m, mode),
      failures: () => d.machines.filter((p) => p.outcome === 'failed').length,
      emit: (e) => this.deps.emit(d, e),
      phase: (phase, message) => this.phase(input, phase, message),
      createMachine: (group, region) => this.createOne(input, group, region),
      destroyMachine: (id) => this.destroyOne(input, id),
      setTraffic: (t) => this.deps.traffic.setTraffic(d.appName, t),
      compare: async (a, b, ms) => {
        const [sa, sb] = await this.deps.traffic.windows([{ machines: a }, { machines: b }], ms);
        return { a: sa!, b: sb! };
      },
      wait: (ms) => this.deps.controls(d.id).wait(ms, input.signal),
      machine: (id) => this.deps.machines.get(d.appName, id),
      idleFor: (id) => this.deps.traffic.idleFor(d.appName, id),
      save: async (extra) => {
        d.extra = extra;
        await this.persist(input);
      },
    };
  }

  private async createOne(input: RunInput, group: string, region: string): Promise<Machine> {
    const { d } = input;
    const m = await this.deps.machines.create(d.appName, { region, config: this.desired(input, group), skipLaunch: true });
    d.machines.push({ machineId: m.id, group, region, outcome: 'pending', fromVersion: null, fromImage: '', fromConfig: null });
    await this.persist(input);
    const started = await this.withRuntime(input, `starting ${m.id}`, () => this.deps.machines.start(d.appName, m.id));
    await this.deps.readiness.waitHealthy(started, this.deps.readiness.exitOf(started), { timeoutMs: d.options.waitTimeoutMs, minUpMs: d.options.fastPath ? 0 : MIN_UP_MS });
    await this.setOutcome(input, m.id, 'created', `created machine ${m.id} (${group}) in ${region}`);
    return started;
  }

  private async destroyOne(input: RunInput, id: string): Promise<void> {
    const { d } = input;
    const nonce = this.deps.nonce(id);
    await this.deps.machines.stop(d.appName, id, {}, nonce);
    await this.deps.machines.destroy(d.appName, id, false, nonce);
    await this.setOutcome(input, id, 'destroyed', `destroyed machine ${id}`);
  }

  desired(input: RunInput, group: string, image = input.image): MachineConfig {
    const config = machineConfigFor(input.cfg, { group, image, releaseVersion: input.d.releaseVersion });
    config.metadata = { ...config.metadata, primary_region: input.cfg.primaryRegion, fly_release_id: input.d.id };
    return config;
  }

  private async updateOne(input: RunInput, m: Machine, mode: UpdateMode): Promise<MachineOutcome> {
    const { d } = input;
    await this.setOutcome(input, m.id, 'updating', `updating ${m.id}`);
    try {
      const config = this.desired(input, groupOf(m));
      await this.withRuntime(input, `updating ${m.id}`, () => this.replace(input, m, config, mode, input.d.options.fastPath ? 0 : MIN_UP_MS));
      await this.machineChecks(input, m.id);
      return this.setOutcome(input, m.id, 'updated', `${m.id} is on v${d.releaseVersion}`);
    } catch (err) {
      if (input.signal.aborted) throw err;
      return this.setOutcome(input, m.id, 'failed', `${m.id} failed: ${(err as Error).message}`);
    }
  }

  /** Moves one machine to `config`: surge (health-gated) or now; a machine that is not running stays stopped. */
  private async replace(input: RunInput, m: Machine, config: MachineConfig, mode: UpdateMode, minUpMs: number): Promise<void> {
    const { d } = input;
    const cur = await this.deps.machines.get(d.appName, m.id);
    const nonce = this.deps.nonce(m.id);
    if (cur.state !== 'started') {
      await this.deps.machines.update(d.appName, m.id, { config, region: cur.region }, nonce);
      return;
    }
    if (mode === 'now') {
      // Replaced without waiting (the hold window covers the gap), then verified: a deploy only
      // reports success once the new version passes its checks.
      const updated = await this.deps.machines.update(d.appName, m.id, { config, region: cur.region }, nonce);
      await this.deps.readiness.waitHealthy(updated, this.deps.readiness.exitOf(updated), { timeoutMs: d.options.waitTimeoutMs, minUpMs });
      return;
    }
    const wait = { timeoutMs: d.options.waitTimeoutMs, minUpMs };
    // Each step is an event for watchers (the dashboard draws them); a remote host's steps stay inside its node.
    const step = (s: MachineStep, message: string) => void this.deps.emit(d, { type: 'machine', machineId: m.id, outcome: 'updating', step: s, message: `${m.id}: ${message}` });
    const ready: SurgeReady = async (ref, port, exited) => {
      step('started', `new instance ${ref.instanceId} started`);
      await this.deps.readiness.waitReady({ ...cur, config }, ref, port, exited, wait);
      step('passing', 'new instance passes its checks');
    };
    await this.deps.machines.surgeUpdate(d.appName, m.id, { config }, nonce, ready, wait, () => step('switched', 'traffic switched to the new instance'));
    step('drained', 'old instance drained and stopped');
  }

  /** The service's machine checks against a machine now on the new release (skipped while it is stopped). */
  private async machineChecks(input: RunInput, machineId: string): Promise<void> {
    const m = await this.deps.machines.get(input.d.appName, machineId);
    if (m.state !== 'started') return;
    const onLine = (line: string) => void this.deps.emit(input.d, { type: 'log', source: 'machine_check', line });
    const n = await this.withRuntime(input, `machine checks of ${machineId}`, () => runMachineChecks(this.deps, { cfg: input.cfg, image: input.image, machine: m, timeoutMs: input.d.options.waitTimeoutMs, onLine }));
    if (n > 0) onLine(`${machineId} passed ${n} machine check(s)`);
  }

  async setOutcome(input: RunInput, machineId: string, outcome: MachineOutcome, message: string): Promise<MachineOutcome> {
    const p = input.d.machines.find((x) => x.machineId === machineId);
    if (p) {
      p.outcome = outcome;
      if (outcome === 'failed') p.error = message;
    }
    await this.persist(input);
    await this.deps.emit(input.d, { type: 'machine', machineId, outcome, message });
    return outcome;
  }

  /** After a failure: nothing to undo before machines were touched; otherwise roll back (or keep). */
  private async recover(input: RunInput, failure: DeployFailure): Promise<ReleaseStatus> {
    const { d } = input;
    d.error = failure.message;
    for (const line of failure.details) await this.deps.emit(d, { type: 'log', source: 'release_command', line });
    if (failure.phase === 'release_command' || failure.phase === 'pending') return 'failed';
    const strategy = strategyFor(d.options.strategy);
    if (strategy.undo) return strategy.undo(this.context(input, []), failure);
    return this.rollbackUpdated(input, failure);
  }

  /** The default undo: every machine this deploy updated goes back to its previous release. */
  async rollbackUpdated(input: RunInput, failure: DeployFailure): Promise<ReleaseStatus> {
    const { d } = input;
    const touched = d.machines.filter((p) => p.fromVersion !== null || p.fromConfig !== null).filter((p) => p.outcome === 'updated' || p.outcome === 'failed');
    if (!d.options.autoRollback || touched.length === 0) return 'failed';
    await this.phase(input, 'rolling_back', `${failure.message}; rolling back ${touched.length} machine(s) to their previous release`);
    let ok = true;
    for (const p of touched) ok = (await this.rollbackOne(input, p)) && ok;
    return ok ? 'rolled_back' : 'failed';
  }

  private async rollbackOne(input: RunInput, p: MachineProgress): Promise<boolean> {
    const { d } = input;
    try {
      const m = await this.deps.machines.get(d.appName, p.machineId);
      if (m.config.metadata.fly_release_version !== String(d.releaseVersion)) {
        await this.setOutcome(input, p.machineId, 'untouched', `${p.machineId} was not changed`);
        return true;
      }
      await this.withRuntime(input, `rolling back ${p.machineId}`, () => this.replace(input, m, p.fromConfig as MachineConfig, 'surge', 0));
      await this.setOutcome(input, p.machineId, 'rolled_back', `${p.machineId} is back on ${p.fromVersion ? `v${p.fromVersion}` : p.fromImage}`);
      return true;
    } catch (err) {
      if (input.signal.aborted) throw err;
      await this.deps.emit(d, { type: 'warning', message: `could not roll back ${p.machineId}: ${(err as Error).message}` });
      return false;
    }
  }

  private async finish(input: RunInput, status: ReleaseStatus, failure: DeployFailure | undefined): Promise<void> {
    const { d } = input;
    d.status = status;
    d.phase = 'done';
    d.paused = false;
    await this.persist(input);
    const stable = status === 'complete' && (await this.allHealthy(input));
    await this.deps.state.releases.setStatus(input.appId, d.releaseVersion, status, stable);
    const url = this.deps.appUrl(d.appName);
    const summary = status === 'complete' ? `release v${d.releaseVersion} deployed` : `release v${d.releaseVersion} ${status.replace('_', ' ')}: ${failure?.message ?? ''}`;
    await this.deps.emit(d, { type: 'done', status, release: d.releaseVersion, message: summary, url });
  }

  private async allHealthy(input: RunInput): Promise<boolean> {
    for (const p of input.d.machines) {
      if (p.outcome === 'destroyed') continue;
      const m = await this.deps.machines.get(input.d.appName, p.machineId).catch(() => undefined);
      if (!m || m.config.metadata.fly_release_version !== String(input.d.releaseVersion)) return false;
      if (m.state === 'started' && !this.deps.readiness.allPassing(m.id)) return false;
    }
    return true;
  }
}
