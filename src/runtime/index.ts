/**
 * Runtimes: the `RuntimeDriver` interface and its implementations (process/ now, docker/ later).
 * Callers choose a driver by `RuntimeKind` through `RuntimeRegistry`; nothing else depends on a concrete one.
 */
export type { InstanceExit, InstanceRef, InstanceSpec, InstanceStatus, RuntimeDriver, StopOptions } from './driver.js';
export { ProcessDriver } from './process/process-driver.js';
