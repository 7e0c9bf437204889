import { PreconditionError } from '../core/errors.js';
import type { Machine, MachineEvent, MachineState } from '../core/types.js';
import { isLiveState } from '../core/types.js';
import type { InstanceRef } from '../runtime/driver.js';
import { refOf, type MachineLifecycle } from './lifecycle.js';

export interface DestroyOptions {
  /** Kill what runs (SIGKILL, every instance the runtime has of the machine) instead of refusing. */
  force: boolean;
  source: MachineEvent['source'];
}

/**
 * Destroys a machine: what runs of it killed (with force), everything the runtime keeps for it removed,
 * its lease dropped. Whether it runs is asked of the runtime, not only read from the stored state.
 * A failure half-way leaves the machine in the state its instance is really in, and is thrown. With
 * force, once nothing of the machine runs, files the runtime could not remove do not stop the destroy:
 * they are logged, noted in the event, and removed at the next daemon start. Lock held by the caller.
 * @throws PreconditionError `machine_running` (it runs and `force` is off)
 */
export async function destroyMachine(lc: MachineLifecycle, m: Machine, opts: DestroyOptions): Promise<Machine> {
  if (m.state === 'destroyed') return m;
  const live = isLiveState(m.state) || lc.hasPendingRestart(m.id) || (await lc.observe(m))?.state === 'running';
  if (live && !opts.force) {
    throw new PreconditionError('machine_running', `machine ${m.id} is ${isLiveState(m.state) ? m.state : 'running'}; stop it first or destroy with force`, 'use --force (API: ?force=true)');
  }
  const before = m.state;
  lc.cancelRestart(m.id);
  m = await lc.save(m, { state: 'destroying' }, { type: 'destroy', status: 'destroying', source: opts.source });
  let leftover: string | undefined;
  try {
    if (opts.force) await killAll(lc, m);
    await lc.driver(m.runtime).removeMachine(m.id);
  } catch (err) {
    if (!opts.force || (await anyRunning(lc, m)) !== false) {
      throw await lc.recover(m, err, { op: 'destroy', source: opts.source, gone: settledState(before), unknown: before });
    }
    leftover = err instanceof Error ? err.message : String(err);
    lc.deps.log.warn({ err, machine: m.id }, 'machine destroyed, but the runtime could not remove all of its files; they are removed at the next daemon start');
  }
  lc.deps.ports.release(m.port);
  await lc.deps.state.leases.delete(m.id);
  const message = leftover && `nothing runs, but some of its files could not be removed (${leftover}); they are removed at the next daemon start`;
  return lc.save(m, { state: 'destroyed', port: null }, { type: 'destroy', status: 'destroyed', source: opts.source, ...(message ? { message } : {}) });
}

/**
 * What a destroyed machine left on its runtime (found at daemon start: files a forced destroy could not
 * remove, an instance that outlived it) is killed and removed; the machine stays destroyed.
 */
export async function cleanUpDestroyed(lc: MachineLifecycle, m: Machine): Promise<void> {
  if (m.state !== 'destroyed') return;
  await killAll(lc, m);
  await lc.driver(m.runtime).removeMachine(m.id);
}

/** The machine's instances on its runtime: every one the runtime lists, and the current one. */
async function instancesOf(lc: MachineLifecycle, m: Machine): Promise<InstanceRef[]> {
  const refs = (await lc.driver(m.runtime).list()).filter((r) => r.machineId === m.id);
  if (!refs.some((r) => r.instanceId === m.instanceId)) refs.push(refOf(m));
  return refs;
}

/** SIGKILL for every instance of the machine: the current one and any a failed update left behind. */
async function killAll(lc: MachineLifecycle, m: Machine): Promise<void> {
  for (const ref of await instancesOf(lc, m)) await lc.drainAndStop(m, ref, { signal: 'SIGKILL', timeoutMs: 1000 });
}

/** Whether any instance of the machine still runs; undefined when the runtime cannot say. */
async function anyRunning(lc: MachineLifecycle, m: Machine): Promise<boolean | undefined> {
  try {
    for (const ref of await instancesOf(lc, m)) if ((await lc.driver(m.runtime).status(ref)).state === 'running') return true;
    return false;
  } catch {
    return undefined;
  }
}

/** Where a destroy that failed with nothing running leaves the machine: as it was, unless that was a transition. */
function settledState(before: MachineState): MachineState {
  return isLiveState(before) || before === 'destroying' ? 'stopped' : before;
}
