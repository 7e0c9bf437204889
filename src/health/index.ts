/**
 * Health checks for machines. `checkSpecsFor` turns a machine's Fly-shaped config into runnable
 * `CheckSpec`s (defaults filled in, ports pointed at the machine's PORT); `runHttpCheck` / `runTcpCheck`
 * probe once and never throw; `HealthMonitor` runs every check of each watched instance on its grace
 * period and interval and reports each change through one `onChange` callback as a `HealthChange`.
 * Service checks gate routing (`routable`); top-level `[checks]` only count towards `allPassing`, which
 * deploys wait for. Nothing here touches the database or the proxy: consumers react to the events.
 */
export { CHECK_DEFAULTS, checkSpecsFor, serviceCheckName, type CheckSpec, type CheckType } from './specs.js';
export { runCheck, runHttpCheck, runTcpCheck, type CheckResult } from './runner.js';
export { GRACE_OUTPUT } from './check-loop.js';
export { HealthMonitor, type HealthMonitorOptions, type HealthTarget } from './monitor.js';
export { summarize, type CheckState, type CheckStatusValue, type HealthChange } from './state.js';
export { portAccepts, probeUntilOpen, READINESS_PROBE_MS, ReadinessWaiter, type InstanceExit, type ReadinessDeps, type WaitOptions } from './readiness.js';
