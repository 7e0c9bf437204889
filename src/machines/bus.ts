import { EventEmitter } from 'node:events';
import type { Machine, MachineEvent } from '../core/types.js';

/**
 * In-process notifications of persisted machine changes. Consumers (waiters, the proxy, health checks,
 * deploys) subscribe here instead of polling the database. Emitted only after the change is stored.
 */
export class MachineBus {
  private readonly ee = new EventEmitter();

  constructor() {
    this.ee.setMaxListeners(0);
  }

  emitMachine(m: Machine): void {
    this.ee.emit('machine', m);
  }

  emitEvent(e: MachineEvent, m: Machine): void {
    this.ee.emit('event', e, m);
  }

  onMachine(fn: (m: Machine) => void): () => void {
    this.ee.on('machine', fn);
    return () => this.ee.off('machine', fn);
  }

  onEvent(fn: (e: MachineEvent, m: Machine) => void): () => void {
    this.ee.on('event', fn);
    return () => this.ee.off('event', fn);
  }
}
