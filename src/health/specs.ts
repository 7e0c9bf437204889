/**
 * MachineConfig checks → `CheckSpec`s the runners can execute: durations in milliseconds, the port
 * resolved to where the machine's process actually listens, and every default filled in, so nothing
 * downstream has to know about Fly's string-typed machine config.
 */
import { parseDuration } from '../core/duration.js';
import { ValidationError, type ErrorDetail } from '../core/errors.js';
import type { CheckConfig, MachineConfig } from '../core/types.js';

export type CheckType = 'http' | 'tcp';

/** One health check of one machine, ready to run. */
export interface CheckSpec {
  /** `servicecheck-00-http-8080` for service checks, the `[checks.<name>]` key for top-level ones. */
  name: string;
  type: CheckType;
  /** Port on the host to probe (the machine's PORT unless the check names some other port). */
  port: number;
  intervalMs: number;
  timeoutMs: number;
  gracePeriodMs: number;
  /** HTTP only (filled for tcp too, so the shape is uniform). */
  method: string;
  path: string;
  protocol: 'http' | 'https';
  headers: Record<string, string>;
  /** Service checks decide whether the proxy routes to the machine; top-level checks only hold deploys. */
  gatesRouting: boolean;
}

/** Fly's defaults for a check field that is left out. */
export const CHECK_DEFAULTS = {
  intervalMs: 15_000,
  timeoutMs: 2_000,
  gracePeriodMs: 1_000,
  method: 'GET',
  path: '/',
  protocol: 'http',
} as const;

/**
 * Every check of a machine, service checks first (in service order), then top-level checks in key order.
 *
 * The process runtime gives a machine a single port (`machinePort`) whatever `internal_port` says, so a
 * check aimed at a service's internal port is redirected there; any other explicit port is probed as-is.
 * Throws `ValidationError` listing every malformed field (bad duration, port out of range) at once.
 */
export function checkSpecsFor(config: MachineConfig, machinePort: number): CheckSpec[] {
  const problems: ErrorDetail[] = [];
  const specs: CheckSpec[] = [];
  // One counter across services keeps names unique even when two services share an internal port.
  let index = 0;
  config.services.forEach((service, s) => {
    service.checks.forEach((check, c) => {
      const name = serviceCheckName(index++, check.type, service.internal_port);
      const port = resolvePort(check.port, [service.internal_port], machinePort);
      const at = `services[${s}].checks[${c}]`;
      specs.push(specFor({ name, check, port, gatesRouting: true, at, problems }));
    });
  });
  // A top-level check has no service of its own; pointing at any service's port means "the app".
  const internalPorts = config.services.map((s) => s.internal_port);
  for (const [name, check] of Object.entries(config.checks)) {
    const port = resolvePort(check.port, internalPorts, machinePort);
    specs.push(specFor({ name, check, port, gatesRouting: false, at: `checks.${name}`, problems }));
  }
  if (problems.length > 0) {
    throw new ValidationError(`invalid health check configuration (${problems.length} problem(s))`, problems);
  }
  return specs;
}

/** Fly's naming for checks declared under a service: index (two digits), type, internal port. */
export function serviceCheckName(index: number, type: CheckType, internalPort: number): string {
  return `servicecheck-${String(index).padStart(2, '0')}-${type}-${internalPort}`;
}

function resolvePort(port: number | undefined, internalPorts: readonly number[], machinePort: number): number {
  return port === undefined || internalPorts.includes(port) ? machinePort : port;
}

interface SpecInput {
  name: string;
  check: CheckConfig;
  port: number;
  gatesRouting: boolean;
  /** Field path of the check, for problem reports. */
  at: string;
  problems: ErrorDetail[];
}

function specFor({ name, check, port, gatesRouting, at, problems }: SpecInput): CheckSpec {
  const duration = (field: 'interval' | 'timeout' | 'grace_period', fallback: number): number => {
    const raw = check[field];
    if (raw === undefined) return fallback;
    const ms = parseDuration(raw);
    if (ms !== undefined) return ms;
    problems.push({ path: `${at}.${field}`, message: 'is not a duration like "10s"', value: raw });
    return fallback;
  };
  if (check.type !== 'http' && check.type !== 'tcp') {
    problems.push({ path: `${at}.type`, message: 'must be "http" or "tcp"', value: check.type });
  }
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    problems.push({ path: `${at}.port`, message: 'must be an integer from 1 to 65535', value: port });
  }
  return {
    name,
    type: check.type,
    port,
    intervalMs: duration('interval', CHECK_DEFAULTS.intervalMs),
    timeoutMs: duration('timeout', CHECK_DEFAULTS.timeoutMs),
    gracePeriodMs: duration('grace_period', CHECK_DEFAULTS.gracePeriodMs),
    method: (check.method ?? CHECK_DEFAULTS.method).toUpperCase(),
    path: check.path ?? CHECK_DEFAULTS.path,
    protocol: check.protocol ?? CHECK_DEFAULTS.protocol,
    headers: headerRecord(check.headers ?? []),
    gatesRouting,
  };
}

/** `[{name, values}]` → one header line per name; a name given twice keeps both lists' values. */
function headerRecord(headers: NonNullable<CheckConfig['headers']>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, values } of headers) {
    const joined = values.join(', ');
    out[name] = out[name] === undefined ? joined : `${out[name]}, ${joined}`;
  }
  return out;
}
