import type { Logger } from 'pino';
import type { Machine, RuntimeKind } from '../core/types.js';
import type { State } from '../state/index.js';
import { refOf, type MachineLifecycle } from './lifecycle.js';
import type { PortAllocator } from './ports.js';

/**
 * Run at daemon start (and again for a runtime that was unreachable then, once it answers): brings the stored machines and the runtimes back into agreement. Live
 * instances are adopted (never started twice), instances nobody owns are stopped, and machines whose
 * instance died while no daemon watched get their restart policy applied.
 */
export async function reconcile(deps: { state: State; lifecycle: MachineLifecycle; ports: PortAllocator; log: Logger }, kinds: readonly RuntimeKind[] = ['process', 'docker']): Promise<RuntimeKind[]> {
  const machines = await deps.state.machines.list();
  const byId = new Map(machines.map((m) => [m.id, m]));
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

async function stopStrays(deps: { state: State; lifecycle: MachineLifecycle; log: Logger }, byId: Map<string, Machine>, kind: RuntimeKind): Promise<void> {
  let driver;
  try {
    driver = deps.lifecycle.driver(kind);
  } catch {
    return;
  }
  for (const ref of await driver.list()) {
    const owner = byId.get(ref.machineId);
    if (owner && owner.instanceId === ref.instanceId) continue;
    const st = await driver.status(ref);
    if (st.state === 'running') deps.log.warn({ machine: ref.machineId, instance: ref.instanceId }, 'stopping an instance no machine owns');
    // The stray may be on the runtime the machine left (an app that moved to Docker): retire it there.
    if (owner) await deps.lifecycle.retireInstance({ ...owner, runtime: kind }, ref);
    else {
      await driver.stop(ref, { signal: 'SIGTERM', timeoutMs: 5000 });
      await driver.removeMachine(ref.machineId);
    }
  }
}

async function resume(deps: { lifecycle: MachineLifecycle; ports: PortAllocator; log: Logger }, m: Machine): Promise<void> {
  const lc = deps.lifecycle;
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
      await lc.stopInstance(m, { source: 'hangar' });
      return;
    case 'destroying':
      await lc.driver(m.runtime).stop(refOf(m), { signal: 'SIGKILL', timeoutMs: 1000 });
      await lc.driver(m.runtime).removeMachine(m.id);
      await lc.save(m, { state: 'destroyed' }, { type: 'destroy', status: 'destroyed', source: 'hangar' });
      return;
    case 'created':
    case 'stopped':
    case 'failed':
    case 'destroyed':
      if (running) await lc.stopInstance({ ...m, state: 'started' }, { source: 'hangar' });
      return;
  }
}
