import type { InstanceExit, InstanceRef, InstanceSpec, InstanceStatus, RuntimeDriver, StopOptions } from '../runtime/driver.js';

/** Told when the release command's machine starts, could not start, or exited. */
export interface ReleaseCommandObserver {
  releaseStarting(spec: InstanceSpec): void;
  releaseFailed(spec: InstanceSpec, err: Error): void;
  releaseExited(spec: InstanceSpec, exit: InstanceExit): void;
  /** The deploy stopped the command (it ran past release_command_timeout). */
  releaseSignalled(spec: InstanceSpec, signal: string): void;
}

/**
 * The runtime driver a deploy runs its release command on, unchanged except that every instance it
 * starts is reported to `observer` (starting, then exited or failed to start). Deploys use their
 * driver for nothing else, so every start seen here is a temporary machine: the release command or a
 * machine check (told apart by their machine ids).
 */
export class ReleaseCommandDriver implements RuntimeDriver {
  /** Instances started through this driver and not exited yet. */
  private readonly live = new Map<string, InstanceSpec>();

  constructor(
    private readonly inner: RuntimeDriver,
    private readonly observer: ReleaseCommandObserver,
  ) {}

  get kind() {
    return this.inner.kind;
  }

  async start(spec: InstanceSpec): Promise<void> {
    // Said before the command runs, so none of its output can be collected ahead of the line.
    this.observer.releaseStarting(spec);
    const off = this.inner.onExit((e) => {
      if (e.machineId !== spec.machineId || e.instanceId !== spec.instanceId) return;
      off();
      this.live.delete(spec.instanceId);
      this.observer.releaseExited(spec, e);
    });
    this.live.set(spec.instanceId, spec);
    try {
      await this.inner.start(spec);
    } catch (err) {
      off();
      this.live.delete(spec.instanceId);
      this.observer.releaseFailed(spec, err as Error);
      throw err;
    }
  }

  stop(ref: InstanceRef, opts: StopOptions): Promise<InstanceExit | undefined> {
    // Only a stop of a running command is news; the clean-up stop after it exited is not.
    const spec = this.live.get(ref.instanceId);
    if (spec) this.observer.releaseSignalled(spec, opts.signal);
    return this.inner.stop(ref, opts);
  }

  status(ref: InstanceRef): Promise<InstanceStatus> {
    return this.inner.status(ref);
  }

  adopt(ref: InstanceRef): Promise<InstanceStatus> {
    return this.inner.adopt(ref);
  }

  list(): Promise<InstanceRef[]> {
    return this.inner.list();
  }

  remove(ref: InstanceRef): Promise<void> {
    return this.inner.remove(ref);
  }

  removeMachine(machineId: string): Promise<void> {
    return this.inner.removeMachine(machineId);
  }

  logFiles(machineId: string): { stdout: string; stderr: string } {
    return this.inner.logFiles(machineId);
  }

  onExit(listener: (exit: InstanceExit) => void): () => void {
    return this.inner.onExit(listener);
  }

  /** The wrapped driver belongs to the daemon, which disposes of it. */
  async dispose(): Promise<void> {}
}
