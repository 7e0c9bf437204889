/**
 * AppConfig → the Fly-shaped `MachineConfig` of one machine in one process group. This is where the
 * app-wide file becomes per-machine data, so every "does this apply to the group?" rule lives here.
 * Durations go back to strings ("10s") because that is how Fly's machine config stores them.
 */
import { formatDuration } from '../core/duration.js';
import { UserError } from '../core/errors.js';
import type { CheckConfig, MachineConfig, ServiceConfig, ServicePort } from '../core/types.js';
import { splitCommand } from './command.js';
import {
  processGroups,
  type AppConfig,
  type CheckTiming,
  type HttpCheck,
  type HttpService,
  type MachineCheckDef,
  type NamedCheck,
  type ProcessCommand,
  type ServiceCommon,
  type ServiceDef,
  type TcpCheck,
} from './types.js';

export { splitCommand };

/** Fly's default for `[[restart]] retries` with the on-failure policy. */
const DEFAULT_MAX_RETRIES = 10;

export interface MachineConfigOptions {
  group: string;
  image: string;
  /** Merged over `[env]` (secrets, RELEASE_COMMAND=1, `--env` flags). */
  env?: Record<string, string>;
  releaseVersion?: number;
}

/** Throws `UserError` `unknown_process_group` when `group` is not one of `processGroups(cfg)`. */
export function machineConfigFor(cfg: AppConfig, opts: MachineConfigOptions): MachineConfig {
  const { group } = opts;
  assertKnownGroup(cfg, group);
  const config: MachineConfig = {
    image: opts.image,
    env: { ...cfg.env, ...opts.env },
    init: commandFor(cfg, group),
    services: servicesFor(cfg, group),
    checks: namedChecksFor(cfg, group),
    restart: restartFor(cfg, group),
    stop_config: { signal: cfg.killSignal, timeout: formatDuration(cfg.killTimeoutMs) },
    metadata: metadataFor(group, opts.releaseVersion),
  };
  const guest = guestFor(cfg, group);
  if (guest) config.guest = guest;
  if (cfg.docker.network === 'published') config.network = 'published';
  return config;
}

function assertKnownGroup(cfg: AppConfig, group: string): void {
  const known = processGroups(cfg);
  if (known.includes(group)) return;
  throw new UserError({
    code: 'unknown_process_group',
    message: `unknown process group "${group}"; this app has ${known.map((g) => `"${g}"`).join(', ')}`,
    hint: 'use one of the groups in [processes] (or "app" when there is no [processes])',
  });
}

/** A rule applies to a group when it names it, or names no groups at all. */
const appliesTo = (rule: { processes?: readonly string[] }, group: string): boolean =>
  rule.processes === undefined || rule.processes.includes(group);

/**
 * The cross-checks allow one rule naming the group and one catch-all; the one naming it is more
 * specific, so it wins.
 */
function ruleFor<T extends { processes?: readonly string[] }>(rules: readonly T[], group: string): T | undefined {
  return rules.find((r) => r.processes?.includes(group)) ?? rules.find((r) => r.processes === undefined);
}

/**
 * As flyctl builds a machine's init: the group's own command, or `[experimental] cmd` when it has none
 * (no `[processes]`, or an empty entry), with `[experimental] entrypoint` in front of either. With
 * neither, the image's own entrypoint runs.
 */
function commandFor(cfg: AppConfig, group: string): MachineConfig['init'] {
  const own = cfg.processes[group];
  const exp = cfg.experimental;
  const base = own !== undefined && own !== '' ? argvOf(own) : [...(exp?.cmd ?? [])];
  const cmd = [...(exp?.entrypoint ?? []), ...base];
  return cmd.length > 0 ? { cmd } : {};
}

const argvOf = (command: ProcessCommand): string[] => (typeof command === 'string' ? splitCommand(command) : [...command]);

function servicesFor(cfg: AppConfig, group: string): ServiceConfig[] {
  const out: ServiceConfig[] = [];
  if (cfg.httpService && appliesTo(cfg.httpService, group)) out.push(fromHttpService(cfg.httpService));
  for (const service of cfg.services) if (appliesTo(service, group)) out.push(fromService(service));
  return out;
}

/** `[http_service]` is shorthand for one TCP service on 80 (http) and 443 (tls + http). */
function fromHttpService(s: HttpService): ServiceConfig {
  const ports: ServicePort[] = [
    { port: 80, handlers: ['http'], force_https: s.forceHttps },
    { port: 443, handlers: ['tls', 'http'] },
  ];
  if (s.h2Backend) for (const p of ports) p.http_options = { h2_backend: true };
  const checks = s.checks.map((c) => httpCheckConfig(c, s.internalPort));
  return { protocol: 'tcp', internal_port: s.internalPort, ports, checks, ...serviceExtras(s) };
}

function fromService(s: ServiceDef): ServiceConfig {
  const ports = s.ports.map((p): ServicePort => ({ port: p.port, handlers: [...p.handlers], force_https: p.forceHttps, ...(p.h2Backend ? { http_options: { h2_backend: true } } : {}) }));
  const checks = [
    ...s.httpChecks.map((c) => httpCheckConfig(c, s.internalPort)),
    ...s.tcpChecks.map((c) => tcpCheckConfig(c, s.internalPort)),
  ];
  return { protocol: s.protocol, internal_port: s.internalPort, ports, checks, ...serviceExtras(s) };
}

type ServiceExtras = Pick<ServiceConfig, 'autostop' | 'autostart' | 'min_machines_running' | 'concurrency'>;

function serviceExtras(s: ServiceCommon): ServiceExtras {
  const extras: ServiceExtras = {
    autostop: s.autoStopMachines,
    autostart: s.autoStartMachines,
    min_machines_running: s.minMachinesRunning,
  };
  if (s.concurrency) {
    const { type, softLimit, hardLimit } = s.concurrency;
    extras.concurrency = { type };
    if (softLimit !== undefined) extras.concurrency.soft_limit = softLimit;
    if (hardLimit !== undefined) extras.concurrency.hard_limit = hardLimit;
  }
  return extras;
}

function timing(c: CheckTiming): Pick<CheckConfig, 'interval' | 'timeout' | 'grace_period'> {
  return {
    interval: formatDuration(c.intervalMs),
    timeout: formatDuration(c.timeoutMs),
    grace_period: formatDuration(c.gracePeriodMs),
  };
}

function httpCheckConfig(c: HttpCheck, defaultPort: number): CheckConfig {
  const check: CheckConfig = {
    type: 'http',
    port: c.port ?? defaultPort,
    ...timing(c),
    method: c.method,
    path: c.path,
    protocol: c.protocol,
  };
  const headers = Object.entries(c.headers).map(([name, value]) => ({ name, values: [value] }));
  if (headers.length > 0) check.headers = headers;
  return check;
}

function tcpCheckConfig(c: TcpCheck, defaultPort: number): CheckConfig {
  return { type: 'tcp', port: c.port ?? defaultPort, ...timing(c) };
}

function namedChecksFor(cfg: AppConfig, group: string): Record<string, CheckConfig> {
  const out: Record<string, CheckConfig> = {};
  for (const [name, check] of Object.entries(cfg.checks)) {
    if (appliesTo(check, group)) out[name] = namedCheckConfig(check);
  }
  return out;
}

function namedCheckConfig(c: NamedCheck): CheckConfig {
  return c.type === 'http' ? httpCheckConfig(c, c.port) : tcpCheckConfig(c, c.port);
}

function restartFor(cfg: AppConfig, group: string): MachineConfig['restart'] {
  const rule = ruleFor(cfg.restart, group);
  const policy = rule?.policy ?? 'on-failure';
  // Retries only mean something with on-failure; keep an explicit value for the others anyway.
  const retries = rule?.retries ?? (policy === 'on-failure' ? DEFAULT_MAX_RETRIES : undefined);
  return retries === undefined ? { policy } : { policy, max_retries: retries };
}

function metadataFor(group: string, releaseVersion: number | undefined): Record<string, string> {
  const metadata: Record<string, string> = { fly_process_group: group, hangar_process_group: group };
  if (releaseVersion !== undefined) metadata.fly_release_version = String(releaseVersion);
  return metadata;
}

function guestFor(cfg: AppConfig, group: string): MachineConfig['guest'] {
  const vm = ruleFor(cfg.vm, group);
  if (!vm) return undefined;
  const guest: NonNullable<MachineConfig['guest']> = {};
  if (vm.cpuKind !== undefined) guest.cpu_kind = vm.cpuKind;
  if (vm.cpus !== undefined) guest.cpus = vm.cpus;
  if (vm.memoryMb !== undefined) guest.memory_mb = vm.memoryMb;
  return guest;
}

/** True when some process group has a service with a check (what gates routing, and bluegreen needs). */
export function hasRoutingChecks(cfg: AppConfig): boolean {
  return processGroups(cfg).some((g) => machineConfigFor(cfg, { group: g, image: 'x' }).services.some((s) => s.checks.length > 0));
}

/**
 * The machine checks to run against a freshly updated machine of `group`: those of `[http_service]`
 * and of every `[[services]]` entry that serves the group, in file order (flyctl runs them all).
 */
export function machineChecksFor(cfg: AppConfig, group: string): MachineCheckDef[] {
  assertKnownGroup(cfg, group);
  const services: Array<{ processes?: readonly string[]; machineChecks?: readonly MachineCheckDef[] }> = [
    ...(cfg.httpService ? [cfg.httpService] : []),
    ...cfg.services,
  ];
  // `?? []`: releases stored before machine checks were parsed have configs without the field.
  return services.filter((s) => appliesTo(s, group)).flatMap((s) => [...(s.machineChecks ?? [])]);
}
