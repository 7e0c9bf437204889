/**
 * App configuration: reads hangar.toml (or, failing that, fly.toml) into one validated, deeply frozen
 * `AppConfig` with camelCase fields and durations in milliseconds. Every problem in a file is reported
 * at once in a single `ValidationError` (field path, message, bad value); keys fly.toml allows but
 * hangar ignores come back as `ConfigWarning`s instead of errors. `machineConfigFor` turns the config
 * into the Fly-shaped `MachineConfig` of one machine in a process group, which is what the deploy
 * code hands to a runtime.
 */
export { findConfigFile, loadConfig, parseConfig, CONFIG_FILE_NAMES } from './load.js';
export { hasRoutingChecks, machineConfigFor, splitCommand, type MachineConfigOptions } from './machine-config.js';
export {
  AUTO_STOP_MODES,
  DEFAULT_PROCESS_GROUP,
  DEPLOY_STRATEGIES,
  KILL_SIGNALS,
  processGroups,
  type AppConfig,
  type AutoStopMode,
  type BuildConfig,
  type CheckTiming,
  type Concurrency,
  type ConfigWarning,
  type DeployConfig,
  type DeployStrategyName,
  type HttpCheck,
  type HttpService,
  type KillSignal,
  type LoadedConfig,
  type NamedCheck,
  type ProcessCommand,
  type RestartRule,
  type ServiceCommon,
  type ServiceDef,
  type ServicePortDef,
  type TcpCheck,
  type VmSpec,
} from './types.js';
