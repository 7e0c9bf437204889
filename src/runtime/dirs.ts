import { join } from 'node:path';
import type { InstanceRef } from './driver.js';

const SAFE_ID = /^[A-Za-z0-9_-]+$/;

/**
 * Where a driver keeps a machine's files (`<root>/<machine>`) and an instance's (`.../<instance>`).
 * Ids are checked before they become paths, so a bad id can never escape the root.
 */
export function machineDir(root: string, machineId: string): string {
  if (!SAFE_ID.test(machineId)) throw new Error(`bad machine id ${machineId}`);
  return join(root, machineId);
}

export function instanceDir(root: string, ref: InstanceRef): string {
  if (!SAFE_ID.test(ref.instanceId)) throw new Error(`bad instance id ${ref.instanceId}`);
  return join(machineDir(root, ref.machineId), ref.instanceId);
}
