/**
 * App configuration: reads hangar.toml (or, failing that, fly.toml) into one validated, deeply frozen
 * `AppConfig` with camelCase fields and durations in milliseconds. Every problem in a file is reported
 * at once in a single `ValidationError` (field path, message, bad value); keys fly.toml allows but
 * hangar ignores, unknown keys and Fly's older spellings come back as `ConfigWarning`s instead of
 * errors. `checkConfig` returns problems and warnings without throwing (for `hangar config validate`). `machineConfigFor` turns the config
 * into the Fly-shaped `MachineConfig` of one machine in a process group, which is what the deploy
 * code hands to a runtime.
 */
export { checkConfig, findConfigFile, loadConfig, parseConfig, readConfigText, CONFIG_FILE_NAMES, type ConfigCheck } from './load.js';
export { hasRoutingChecks, machineChecksFor, machineConfigFor, splitCommand, type MachineConfigOptions } from './machine-config.js';
export { isPlaceholderName } from './app-name.js';
export { VM_PRESETS } from './vm-sizes.js';
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
  type ExperimentalConfig,
  type HttpCheck,
  type HttpService,
  type KillSignal,
  type LoadedConfig,
  type LoadOptions,
  type MachineCheckDef,
  type NamedCheck,
  type ProcessCommand,
  type RestartRule,
  type ServiceCommon,
  type ServiceDef,
  type ServicePortDef,
  type TcpCheck,
  type VmSpec,
} from './types.js';
