import type { App, Machine, MachineEvent, MachineState } from '../core/types.js';
import type { WaitOptions } from '../health/readiness.js';
import type { CreateMachineInput, ListFilter, StopInput, UpdateMachineInput } from './machine-service.js';
import type { SurgeReady } from './replace.js';

/**
 * Machine operations wherever the machine runs: what the API, deploys and autostop call. On one host
 * it is the MachineService; in a cluster, the facade that carries each one out on the machine's host.
 */
export interface MachineOps {
  app(name: string): Promise<App>;
  /** `host` pins the new machine to a host (name or id). */
  create(appName: string, input: CreateMachineInput & { host?: string }): Promise<Machine>;
  list(appName: string, filter?: ListFilter): Promise<Machine[]>;
  get(appName: string, id: string): Promise<Machine>;
  events(appName: string, id: string, limit?: number): Promise<MachineEvent[]>;
  recentEvents(ids: string[]): Promise<Map<string, MachineEvent[]>>;
  start(appName: string, id: string, nonce?: string): Promise<Machine>;
  stop(appName: string, id: string, input: StopInput, nonce?: string): Promise<Machine>;
  restart(appName: string, id: string, input: StopInput, nonce?: string): Promise<Machine>;
  update(appName: string, id: string, input: UpdateMachineInput, nonce?: string): Promise<Machine>;
  /**
   * `ready` decides the switch on this host; `wait` is how another host's node decides it. `onSwitched`
   * is told when traffic moved to the new instance, before the old one drains (on this host only).
   */
  surgeUpdate(appName: string, id: string, input: UpdateMachineInput, nonce: string | undefined, ready: SurgeReady, wait: WaitOptions, onSwitched?: () => void): Promise<Machine>;
  destroy(appName: string, id: string, force: boolean, nonce?: string, opts?: { ignoreLease?: boolean }): Promise<Machine>;
  setCordon(appName: string, id: string, cordoned: boolean, nonce?: string): Promise<Machine>;
  wait(appName: string, id: string, opts: { state: MachineState; timeoutMs: number; instanceId?: string }): Promise<Machine>;
}
