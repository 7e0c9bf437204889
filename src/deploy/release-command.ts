import { randomBytes } from 'node:crypto';
import { UserError } from '../core/errors.js';
import { newInstanceId, TASK_PREFIX, type TaskKind } from '../core/ids.js';
import type { LogCollector } from '../logs/collector.js';
import type { ResolvedImage } from '../machines/images.js';
import type { InstanceExit, RuntimeDriver, StopOptions } from '../runtime/driver.js';


export interface TaskRun {
  app: string;
  region: string;
  image: ResolvedImage;
  argv: string[];
  env: Record<string, string>;
  timeoutMs: number;
  onLine: (line: string) => void;
}

export type ReleaseCommandRun = TaskRun;

export interface MachineCheckRun extends TaskRun {
  /** How the check machine is stopped at its timeout: this signal, then SIGKILL after `killTimeoutMs`. */
  killSignal: StopOptions['signal'];
  killTimeoutMs: number;
  /** The machine under test, named in failures. */
  target: string;
}

const TAIL = 100;

interface TaskDeps {
  driver: RuntimeDriver;
  logs: LogCollector;
}

/**
 * Runs `[deploy] release_command` once, in a temporary machine from the new image: no services, no
 * restarts, `RELEASE_COMMAND=1`. Its output goes to the deploy's events and to `hangar logs`. A non-zero
 * exit or the timeout (the process is killed) fails with the last 100 lines.
 */
export async function runReleaseCommand(deps: TaskDeps, run: ReleaseCommandRun): Promise<void> {
  const r = await runTask(deps, 'release_command', { ...run, env: { ...run.env, RELEASE_COMMAND: '1' } }, { signal: 'SIGTERM', timeoutMs: 2000 });
  if (r.timedOut) throw failure('release_command_timeout', `release command timed out after ${run.timeoutMs} ms and was killed - aborting deployment`, r.tail, 'raise [deploy] release_command_timeout or --release-command-timeout', 'release_command');
  if (r.exit.exitCode !== 0) throw failure('release_command_failed', `release command failed with exit code ${r.exit.exitCode ?? r.exit.signal} - aborting deployment`, r.tail, 'fix the command, or deploy with --skip-release-command', 'release_command');
}

/**
 * Runs one machine check (Fly's `machine_checks`) against a freshly updated machine: a temporary machine
 * from the check's image runs the command with FLY_TEST_MACHINE_IP / _ID / _PORT naming the machine under
 * test. A non-zero exit, or running past `timeoutMs` (stopped with the check's kill signal), fails it.
 */
export async function runMachineCheck(deps: TaskDeps, run: MachineCheckRun): Promise<void> {
  const r = await runTask(deps, 'machine_check', run, { signal: run.killSignal, timeoutMs: run.killTimeoutMs });
  const what = `machine check "${run.argv.join(' ')}" against ${run.target}`;
  if (r.timedOut) throw failure('machine_check_timeout', `${what} did not finish within ${run.timeoutMs} ms and was stopped`, r.tail, 'make the check finish sooner, or raise --wait-timeout', 'machine_check');
  if (r.exit.exitCode !== 0) throw failure('machine_check_failed', `${what} failed with exit code ${r.exit.exitCode ?? r.exit.signal}`, r.tail, 'see the check output above; fix the app or the check in machine_checks', 'machine_check');
}

async function runTask(deps: TaskDeps, kind: TaskKind, run: TaskRun, stop: StopOptions): Promise<{ exit: InstanceExit; timedOut: boolean; tail: string[] }> {
  const machineId = `${TASK_PREFIX[kind]}${randomBytes(5).toString('hex')}`;
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
    await deps.driver.start({ ...ref, appName: run.app, image: { ref: run.image.fullRef, digest: run.image.ref.digest, rootfs: run.image.rootfs }, cmd: run.argv, env: run.env, port: 0 });
    const timer = setTimeout(() => {
      timedOut = true;
      void deps.driver.stop(ref, stop);
    }, run.timeoutMs);
    const exit = await exited;
    clearTimeout(timer);
    deps.logs.flush(machineId);
    return { exit, timedOut, tail };
  } finally {
    offLines();
    deps.logs.untrack(machineId);
    await deps.driver.stop(ref, { signal: 'SIGKILL', timeoutMs: 1000 }).catch(() => undefined);
    await deps.driver.removeMachine(machineId).catch(() => undefined);
  }
}

function failure(code: string, message: string, tail: string[], hint: string, source: TaskKind): UserError {
  return new UserError({ code, message, hint, details: tail.map((line) => ({ path: `${source}.output`, message: line })) });
}
