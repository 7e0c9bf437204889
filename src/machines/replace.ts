import { newInstanceId } from '../core/ids.js';
import type { Machine } from '../core/types.js';
import { isLiveState } from '../core/types.js';
import type { InstanceExit, InstanceRef } from '../runtime/driver.js';
import { machineEnv, publishedPort } from './env.js';
import { refOf, withSecretsDigest, type MachineLifecycle } from './lifecycle.js';

/** Resolves once the candidate instance is ready for traffic (its checks pass); rejects to abandon it. */
export type SurgeReady = (ref: InstanceRef, port: number, exited: Promise<InstanceExit>) => Promise<void>;

export interface NextInstance {
  config: Machine['config'];
  imageRef: Machine['imageRef'];
  runtime: Machine['runtime'];
}

/**
 * A rolling update of one machine: the new instance (same machine id, new instance id and port) starts
 * next to the old one, `ready` must resolve (checks pass), and only then does the machine switch to it
 * and the old instance drain and stop. If `ready` fails, the new instance is removed and the machine is
 * left exactly as it was. Once switched, the update stands even if the old instance will not go (it is
 * killed, or left for the next daemon start to stop). Lock held by the caller.
 */
export async function surgeReplace(lc: MachineLifecycle, m: Machine, next: NextInstance, ready: SurgeReady, onSwitched?: () => void): Promise<Machine> {
  const secrets = await lc.secretsFor(m.appName);
  const candidate: Machine = { ...m, config: withSecretsDigest(next.config, secrets.digest), imageRef: next.imageRef, runtime: next.runtime, instanceId: newInstanceId() };
  const ref = refOf(candidate);
  const img = await lc.deps.images.verify(candidate.imageRef, candidate.runtime);
  const port = await lc.deps.ports.allocate();
  // The new instance may run on another runtime (an app that gained a Dockerfile); the old one is retired on its own.
  const driver = lc.driver(candidate.runtime);
  const exited = new Promise<InstanceExit>((resolve) => {
    const off = driver.onExit((e) => {
      if (e.machineId === ref.machineId && e.instanceId === ref.instanceId) {
        off();
        resolve(e);
      }
    });
  });
  try {
    await driver.start({ ...ref, appName: m.appName, image: { ref: img.fullRef, digest: img.ref.digest, rootfs: img.rootfs }, cmd: candidate.config.init.cmd ?? [], env: machineEnv(candidate, port, secrets.values), port, publish: publishedPort(candidate) });
    await ready(ref, port, exited);
  } catch (err) {
    await abandonCandidate(lc, candidate, port);
    throw err;
  }
  const oldRef = refOf(m);
  const switched = await lc.save(
    m,
    { config: candidate.config, imageRef: next.imageRef, runtime: next.runtime, instanceId: ref.instanceId, port, state: 'started', startedAt: new Date().toISOString(), restartCount: 0 },
    { type: 'update', status: 'started', source: 'user', message: `replaced instance ${oldRef.instanceId}${next.runtime !== m.runtime ? ` (runtime ${m.runtime} → ${next.runtime})` : ''}` },
  );
  onSwitched?.();
  const retired = !isLiveState(m.state) || (await retireAfterSwitch(lc, m, oldRef));
  await lc.leaveRuntime(m, next.runtime);
  if (retired) lc.deps.ports.release(m.port);
  else await lc.save(switched, {}, { type: 'update', status: 'warning', source: 'hangar', message: `the replaced instance ${oldRef.instanceId} could not be stopped; it is stopped at the next daemon start` });
  return switched;
}

/** A candidate that failed its checks goes; its port stays taken while it may still run. */
async function abandonCandidate(lc: MachineLifecycle, candidate: Machine, port: number): Promise<void> {
  const driver = lc.driver(candidate.runtime);
  const ref = refOf(candidate);
  try {
    await driver.stop(ref, { signal: 'SIGKILL', timeoutMs: 1000 });
  } catch (err) {
    const st = await lc.observe(candidate);
    if (st === undefined || st.state === 'running') {
      lc.deps.log.error({ err, machine: candidate.id, instance: ref.instanceId }, 'an update candidate that failed could not be stopped; the next daemon start stops it');
      return;
    }
  }
  lc.deps.ports.release(port);
  await driver.remove(ref).catch((err) => lc.deps.log.warn({ err, machine: candidate.id, instance: ref.instanceId }, 'could not remove an update candidate that failed; removed with the machine'));
}

/** Retires the instance a switch replaced: drained and stopped, else killed. False if it still runs. */
async function retireAfterSwitch(lc: MachineLifecycle, old: Machine, ref: InstanceRef): Promise<boolean> {
  try {
    await lc.retireInstance(old, ref);
    return true;
  } catch (err) {
    lc.deps.log.warn({ err, machine: old.id, instance: ref.instanceId }, 'retiring a replaced instance failed');
    await lc.driver(old.runtime).stop(ref, { signal: 'SIGKILL', timeoutMs: 1000 }).catch(() => undefined);
    const st = await lc.observe(old, ref);
    return st !== undefined && st.state !== 'running';
  }
}

/**
 * An in-place update stored the new config and instance id before the old instance is retired (so a
 * daemon that dies halfway finds it unowned). When retiring fails and the old instance still runs, or
 * the runtime cannot say, the update is undone: the machine gets its old config and instance back, in
 * the state that instance is in, and the error is thrown. An old instance that stopped but whose files
 * could not be removed does not hold the update up. Lock held by the caller.
 */
export async function retireForUpdate(lc: MachineLifecycle, old: Machine, next: Machine): Promise<void> {
  try {
    await lc.retireInstance(old, refOf(old));
    return;
  } catch (err) {
    const st = await lc.observe(old);
    if (st && st.state !== 'running') {
      lc.deps.log.warn({ err, machine: old.id, instance: old.instanceId }, 'the replaced instance stopped, but removing it failed; it is removed with the machine');
      return;
    }
    const { config, imageRef, runtime, region, instanceId, restartCount, startedAt } = old;
    const undone: Machine = { ...next, config, imageRef, runtime, region, instanceId, restartCount, startedAt };
    throw await lc.recover(undone, err, { op: 'update', source: 'user', gone: 'stopped', unknown: old.state });
  }
}
