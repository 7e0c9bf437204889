import type { AppConfig } from '../config/index.js';
import type { DeployOptions, StrategyName, Targeting } from '../core/deploy.js';
import { UserError } from '../core/errors.js';

/** What a user asks a deploy for: the image, the config as written, and the flags of `hangar deploy`. */
export interface DeployRequest {
  image: string;
  /** The config file's text and name; parsed here so the daemon validates and snapshots it. */
  configText: string;
  configPath: string;
  strategy?: StrategyName;
  maxUnavailable?: number;
  waitTimeoutMs?: number;
  releaseCommandTimeoutMs?: number;
  skipReleaseCommand?: boolean;
  maxFailures?: number;
  autoRollback?: boolean;
  targeting?: Targeting;
  env?: Record<string, string>;
  user: string;
  description?: string;
  /** bluegreen: stop once green is healthy and wait for `promote`. */
  noCutover?: boolean;
  /** A one-off webhook for this deploy (`hangar deploy --notify URL`). */
  notifyUrl?: string;
  rotateDeadlineMs?: number;
  rotateIdleMs?: number;
}

/** The deploy's options: the request's flags over the config's [deploy] section. */
export function deployOptions(cfg: AppConfig, req: DeployRequest, fastPath: boolean): DeployOptions {
  const maxUnavailable = req.maxUnavailable ?? cfg.deploy.maxUnavailable;
  if (!(maxUnavailable > 0)) {
    throw new UserError({ code: 'invalid_input', message: `max_unavailable must be > 0 (got ${maxUnavailable})`, hint: 'a count (≥ 1) or a fraction of each process group (< 1), e.g. --max-unavailable 0.33', details: [{ path: 'max_unavailable', message: 'must be > 0', value: maxUnavailable }] });
  }
  return {
    strategy: req.strategy ?? (cfg.deploy.strategy as StrategyName),
    maxUnavailable,
    waitTimeoutMs: req.waitTimeoutMs ?? cfg.deploy.waitTimeoutMs,
    releaseCommandTimeoutMs: req.releaseCommandTimeoutMs ?? cfg.deploy.releaseCommandTimeoutMs,
    skipReleaseCommand: req.skipReleaseCommand ?? false,
    maxFailures: req.maxFailures ?? 0,
    autoRollback: req.autoRollback ?? true,
    targeting: req.targeting ?? {},
    fastPath,
    ...(req.rotateDeadlineMs !== undefined ? { rotateDeadlineMs: req.rotateDeadlineMs } : {}),
    ...(req.rotateIdleMs !== undefined ? { rotateIdleMs: req.rotateIdleMs } : {}),
    notify: [...cfg.deploy.notify.map((n) => ({ url: n.url, events: [...n.events] })), ...(req.notifyUrl ? [{ url: req.notifyUrl, events: ['started', 'completed', 'failed', 'rolled_back'] }] : [])],
  };
}
