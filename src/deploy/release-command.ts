import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { newInstanceId } from '../core/ids.js';
import type { LogCollector } from '../logs/collector.js';
import type { ResolvedImage } from '../machines/images.js';
import type { InstanceExit, RuntimeDriver } from '../runtime/driver.js';

export interface ReleaseCommandRun {
  app: string;
  region: string;
  image: ResolvedImage;
  argv: string[];
  env: Record<string, string>;
  timeoutMs: number;
  onLine: (line: string) => void;
}

const TAIL = 100;

/**
 * Runs `[deploy] release_command` once, in a temporary machine from the new image: no services, no
 * restarts, `RELEASE_COMMAND=1`. Its output goes to the deploy's events and to `hangar logs`. A non-zero
 * exit or the timeout (the process is killed) fails with the last 100 lines.
 */
export async function runReleaseCommand(deps: { driver: RuntimeDriver; logs: LogCollector }, run: ReleaseCommandRun): Promise<void> {
  const machineId = `release-${randomBytes(5).toString('hex')}`;
  const ref = { machineId, instanceId: newInstanceId() };
  const tail: string[] = [];
  deps.logs.track({ machineId, app: run.app, region: run.region, ...deps.driver.logFiles(machineId) });
  const offLines = deps.logs.onLine((l) => {
    if (l.machine_id !== machineId) return;
    tail.push(l.message);
    if (tail.length > TAIL) tail.shift();
    run.onLine(l.message);
  });
  const exited = new Promise<InstanceExit>((resolve) => {
    const off = deps.driver.onExit((e) => {
      if (e.machineId === machineId) {
        off();
        resolve(e);
      }
    });
  });
  let timedOut = false;
  try {
    await deps.driver.start({ ...ref, appName: run.app, image: { ref: run.image.fullRef, digest: run.image.ref.digest, rootfs: run.image.rootfs }, cmd: run.argv, env: { ...run.env, RELEASE_COMMAND: '1' }, port: 0 });
    const timer = setTimeout(() => {
      timedOut = true;
      void deps.driver.stop(ref, { signal: 'SIGTERM', timeoutMs: 2000 });
    }, run.timeoutMs);
    const exit = await exited;
    clearTimeout(timer);
    deps.logs.flush(machineId);
    if (timedOut) {
      throw failure('release_command_timeout', `release command timed out after ${run.timeoutMs} ms and was killed - aborting deployment`, tail, 'raise [deploy] release_command_timeout or --release-command-timeout');
    }
    if (exit.exitCode !== 0) {
      throw failure('release_command_failed', `release command failed with exit code ${exit.exitCode ?? exit.signal} - aborting deployment`, tail, 'fix the command, or deploy with --skip-release-command');
    }
  } finally {
    offLines();
    deps.logs.untrack(machineId);
    await deps.driver.stop(ref, { signal: 'SIGKILL', timeoutMs: 1000 }).catch(() => undefined);
    await deps.driver.removeMachine(machineId).catch(() => undefined);
  }
}

function failure(code: string, message: string, tail: string[], hint: string): UserError {
  return new UserError({ code, message, hint, details: tail.map((line) => ({ path: 'release_command.output', message: line })) });
}
