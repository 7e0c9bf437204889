import type { Logger } from 'pino';
import type { Machine } from '../core/types.js';
import type { State } from '../state/index.js';
import { refOf, type MachineLifecycle } from './lifecycle.js';
import type { PortAllocator } from './ports.js';

/**
 * Run once at daemon start: brings the stored machines and the runtimes back into agreement. Live
 * instances are adopted (never started twice), instances nobody owns are stopped, and machines whose
 * instance died while no daemon watched get their restart policy applied.
 */
export async function reconcile(deps: { state: State; lifecycle: MachineLifecycle; ports: PortAllocator; log: Logger }): Promise<void> {
  const machines = await deps.state.machines.list();
  const byId = new Map(machines.map((m) => [m.id, m]));
  await stopStrays(deps, byId);
  for (const m of machines) {
    await deps.lifecycle
      .locked(m.id, (cur) => resume(deps, cur))
      .catch((err) => deps.log.error({ err, machine: m.id }, 'could not recover machine'));
  }
}

async function stopStrays(deps: { state: State; lifecycle: MachineLifecycle; log: Logger }, byId: Map<string, Machine>): Promise<void> {
  for (const kind of ['process', 'docker'] as const) {
    let driver;
    try {
      driver = deps.lifecycle.driver(kind);
    } catch {
      continue;
    }
    for (const ref of await driver.list()) {
      const owner = byId.get(ref.machineId);
      if (owner && owner.instanceId === ref.instanceId) continue;
      const st = await driver.status(ref);
      if (st.state === 'running') deps.log.warn({ machine: ref.machineId, instance: ref.instanceId }, 'stopping an instance no machine owns');
      if (owner) await deps.lifecycle.retireInstance(owner, ref);
      else {
        await driver.stop(ref, { signal: 'SIGTERM', timeoutMs: 5000 });
        await driver.removeMachine(ref.machineId);
      }
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
