/**
 * Fly's `machine_checks` ("test machines"): after a machine moved to the new release and passed its
 * health checks, each check of its service runs once in a temporary machine; a failing one fails that
 * machine's update, so the strategy stops and auto-rollback applies.
 */
import { machineChecksFor, type AppConfig, type MachineCheckDef } from '../config/index.js';
import type { Machine, RuntimeKind } from '../core/types.js';
import type { LogCollector } from '../logs/collector.js';
import type { ImageResolver, ResolvedImage } from '../machines/images.js';
import type { SecretsProvider } from '../machines/lifecycle.js';
import type { RuntimeDriver } from '../runtime/driver.js';
import { runMachineCheck } from './release-command.js';
import { groupOf } from './strategy.js';

export interface MachineCheckDeps {
  images: ImageResolver;
  driverFor: (kind: RuntimeKind) => RuntimeDriver;
  logs: LogCollector;
  secrets?: SecretsProvider;
}

export interface MachineCheckTarget {
  cfg: AppConfig;
  /** The release's image: a check without its own `image` runs from it. */
  image: string;
  machine: Machine;
  /** Bounds each check's run, as flyctl bounds test machines by the deploy's wait timeout. */
  timeoutMs: number;
  onLine: (line: string) => void;
}

/** The environment of a temporary machine (release command, machine check) of `app`. */
export async function taskEnv(deps: { secrets?: SecretsProvider }, app: string, cfg: AppConfig, image: ResolvedImage): Promise<Record<string, string>> {
  const secrets = (await deps.secrets?.forApp(app))?.values ?? {};
  // A container gets its PATH and HOME from its image.
  const host: Record<string, string> = image.runtime === 'process' ? { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' } : {};
  return { ...host, ...cfg.env, ...secrets, FLY_APP_NAME: app, HANGAR_APP_NAME: app, FLY_REGION: cfg.primaryRegion, PRIMARY_REGION: cfg.primaryRegion, FLY_IMAGE_REF: image.fullRef };
}

/** Runs every machine check of the machine's process group, in order; throws the first failure. */
export async function runMachineChecks(deps: MachineCheckDeps, t: MachineCheckTarget): Promise<number> {
  const checks = machineChecksFor(t.cfg, groupOf(t.machine));
  for (const check of checks) await runOne(deps, t, check);
  return checks.length;
}

async function runOne(deps: MachineCheckDeps, t: MachineCheckTarget, check: MachineCheckDef): Promise<void> {
  const app = t.machine.appName;
  const image = await deps.images.resolve(app, check.image ?? t.image);
  const env = await taskEnv(deps, app, t.cfg, image);
  await runMachineCheck(
    { driver: deps.driverFor(image.runtime), logs: deps.logs },
    {
      app,
      region: t.machine.region,
      image,
      argv: [...(check.entrypoint ?? []), ...check.command],
      // Machines listen on the host's loopback with a port of their own, so the port is given too.
      env: { ...env, FLY_TEST_MACHINE_IP: '127.0.0.1', FLY_TEST_MACHINE_ID: t.machine.id, FLY_TEST_MACHINE_PORT: String(t.machine.port ?? '') },
      timeoutMs: t.timeoutMs,
      killSignal: check.killSignal ?? t.cfg.killSignal,
      killTimeoutMs: check.killTimeoutMs ?? t.cfg.killTimeoutMs,
      target: t.machine.id,
      onLine: t.onLine,
    },
  );
}
