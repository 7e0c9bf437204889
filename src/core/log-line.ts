/**
 * One line of `hangar logs`: either a machine's own output (`app`) or something the platform did or saw,
 * named after the part that did it, as `fly logs` names its lines (`app[…]`, `runner[…]`, `health[…]`,
 * `proxy[…]`).
 */

export const LOG_SOURCES = ['app', 'runner', 'health', 'release_command', 'machine_check', 'deploy', 'proxy'] as const;
/**
 * - `app`: a machine's stdout/stderr (release-command machines included, as Fly shows them);
 * - `runner`: the machine lifecycle (created, started, signals, exits, restarts, destroyed);
 * - `health`: a check of a machine changing status;
 * - `release_command`: the release command's machine started or exited;
 * - `machine_check`: a machine check's temporary machine started or exited (Fly's machine_checks);
 * - `deploy`: a deploy's phases, machine outcomes and result;
 * - `proxy`: requests the proxy answered itself with a 502/503.
 */
export type LogSource = (typeof LOG_SOURCES)[number];

export type LogLevel = 'info' | 'warn' | 'error';

export interface LogLine {
  timestamp: string;
  source: LogSource;
  app: string;
  /** The machine the line is about; absent on app-wide lines (a deploy phase, a proxy hold timeout). */
  machine_id?: string;
  instance_id?: string;
  /** The region of the machine the line is about; absent on app-wide lines. */
  region?: string;
  /** `app` lines only: which stream of the machine the line came from. */
  stream?: 'stdout' | 'stderr';
  level: LogLevel;
  message: string;
  /** In a cluster: the host whose node stored the line. */
  host?: string;
}
