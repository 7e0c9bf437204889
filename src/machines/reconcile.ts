import type { Logger } from 'pino';
import type { Machine, RuntimeKind } from '../core/types.js';
import type { State } from '../state/index.js';
import type { InstanceRef, RuntimeDriver } from '../runtime/driver.js';
import { cleanUpDestroyed, destroyMachine } from './destroy.js';
import { refOf, type MachineLifecycle } from './lifecycle.js';
import type { PortAllocator } from './ports.js';

/**
 * Run at daemon start (and again for a runtime that was unreachable then, once it answers): brings the
 * stored machines and the runtimes back into agreement. Live instances are adopted (never started
 * twice), instances nobody owns are stopped, what destroyed machines left is removed, machines whose
 * instance died while no daemon watched get their restart policy applied, and an operation a dying
 * daemon left in progress (`starting`, `replacing`, `stopping`, `destroying`) is finished or, when
 * the runtime fails it, settled in the state the instance is really in. One machine that cannot be
 * recovered does not hold up the others.
 */
export async function reconcile(deps: { state: State; lifecycle: MachineLifecycle; ports: PortAllocator; log: Logger; hostId: string }, kinds: readonly RuntimeKind[] = ['process', 'docker']): Promise<RuntimeKind[]> {
  // Every machine of the cluster is known (an engine shared by two hosts' nodes lists both hosts'
  // containers, and another host's instance is never a stray here), but only this host's are resumed.
  const all = await deps.state.machines.list();
  const byId = new Map(all.map((m) => [m.id, m]));
  const machines = all.filter((m) => m.hostId === deps.hostId);
  const down: RuntimeKind[] = [];
  for (const kind of kinds) {
    try {
      await stopStrays(deps, byId, kind);
    } catch (err) {
      // An engine that does not answer now: its machines are left as stored and recovered once it does.
      if ((err as { code?: string }).code !== 'docker_unavailable') throw err;
      // No engine and no machine that needs one is the normal case on a host without Docker.
      if (!machines.some((m) => m.runtime === kind && m.state !== 'destroyed')) continue;
      deps.log.warn({ runtime: kind, reason: (err as Error).message }, 'runtime unavailable; its machines are recovered when it answers');
      down.push(kind);
    }
  }
  for (const m of machines) {
    if (!kinds.includes(m.runtime) || down.includes(m.runtime)) continue;
    await deps.lifecycle
      .locked(m.id, (cur) => resume(deps, cur))
      .catch((err) => deps.log.error({ err, machine: m.id }, 'could not recover machine'));
  }
  return down;
}

async function stopStrays(deps: { state: State; lifecycle: MachineLifecycle; log: Logger; hostId: string }, byId: Map<string, Machine>, kind: RuntimeKind): Promise<void> {
  const { hostId } = deps;
  let driver;
  try {
    driver = deps.lifecycle.driver(kind);
  } catch {
    return;
  }
  const cleaned = new Set<string>();
  for (const ref of await driver.list()) {
    const owner = byId.get(ref.machineId);
    if (owner && owner.hostId !== hostId) continue;
    if (owner?.state === 'destroyed' && owner.runtime === kind) {
      if (cleaned.has(owner.id)) continue;
      cleaned.add(owner.id);
      await settleStray(deps, ref, () => cleanUpDestroyed(deps.lifecycle, owner));
      continue;
    }
    if (owner && owner.instanceId === ref.instanceId && owner.runtime === kind) continue;
    await settleStray(deps, ref, () => retireStray(deps, driver, owner, ref, kind));
  }
}

async function retireStray(deps: { lifecycle: MachineLifecycle; log: Logger }, driver: RuntimeDriver, owner: Machine | undefined, ref: InstanceRef, kind: RuntimeKind): Promise<void> {
  const st = await driver.status(ref);
  if (st.state === 'running') deps.log.warn({ machine: ref.machineId, instance: ref.instanceId }, 'stopping an instance no machine owns');
  // The stray may be on the runtime the machine left (an app that moved to Docker): retire it there.
  if (owner) await deps.lifecycle.retireInstance({ ...owner, runtime: kind }, ref);
  else {
    await driver.stop(ref, { signal: 'SIGTERM', timeoutMs: 5000 });
    await driver.removeMachine(ref.machineId);
  }
}

/** A stray that cannot be removed is logged and tried again at the next start; an engine that went away is the caller's to handle. */
async function settleStray(deps: { log: Logger }, ref: InstanceRef, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if ((err as { code?: string }).code === 'docker_unavailable') throw err;
    deps.log.error({ err, machine: ref.machineId, instance: ref.instanceId }, 'could not remove what is left of an instance; trying again at the next daemon start');
  }
}

async function resume(deps: { lifecycle: MachineLifecycle; ports: PortAllocator; log: Logger }, m: Machine): Promise<void> {
  const lc = deps.lifecycle;
  // What a destroyed machine left was removed with the strays; nothing of it is followed again.
  if (m.state === 'destroyed') return;
  const st = await lc.driver(m.runtime).adopt(refOf(m));
  const running = st.state === 'running';
  if (running && m.port) deps.ports.claim(m.port);
  switch (m.state) {
    case 'started':
      if (!running) await lc.handleExit(m, { exitCode: st.state === 'exited' ? st.exitCode : null, signal: st.state === 'exited' ? st.signal : null, at: Date.now() });
      return;
    case 'starting':
    case 'replacing':
      if (running) await lc.save(m, { state: 'started' }, { type: 'start', status: 'started', source: 'hangar', message: 'adopted after daemon restart' });
      else await lc.startInstance(m, 'hangar');
      return;
    case 'stopping':
      // The stop a user asked for is finished (with the machine's own stop_config).
      await lc.stopInstance(m, { source: 'hangar' });
      return;
    case 'destroying':
      await destroyMachine(lc, m, { force: true, source: 'hangar' });
      return;
    case 'created':
    case 'stopped':
    case 'failed':
      if (running) await lc.stopInstance({ ...m, state: 'started' }, { source: 'hangar' });
      return;
  }
}
