import type { AppConfig } from '../config/index.js';
import { hasRoutingChecks, machineConfigFor, processGroups } from '../config/index.js';
import type { MachineProgress, StrategyName } from '../core/deploy.js';
import { UserError } from '../core/errors.js';
import type { Machine } from '../core/types.js';
import { groupOf } from './strategy.js';

/** Checks made before a deploy creates anything: commands exist, the strategy fits the app. */

export function progressOf(m: Machine): MachineProgress {
  const v = m.config.metadata.fly_release_version;
  return { machineId: m.id, group: groupOf(m), region: m.region, outcome: 'pending', fromVersion: v && /^\d+$/.test(v) ? Number(v) : null, fromImage: m.config.image, fromConfig: m.config };
}

/** Process machines need a command per group; containers may run their image's own CMD. */
export function requireCommand(cfg: AppConfig, group: string, image: string, runtime: 'process' | 'docker' = 'process'): void {
  if (runtime === 'docker') return;
  const mc = machineConfigFor(cfg, { group, image });
  if (!mc.init.cmd?.length) {
    throw new UserError({ code: 'no_command', message: `process group ${group} has no command to run`, hint: `add it to hangar.toml: [processes]\\n${group} = "node server.js"`, details: [{ path: `processes.${group}`, message: 'missing command' }] });
  }
}

/** Strategy preconditions, checked before anything is created. */
export function checkStrategyFit(cfg: AppConfig, strategy: StrategyName, machines: Machine[]): void {
  if (strategy === 'bluegreen') {
    if (!hasRoutingChecks(cfg)) {
      throw new UserError({ code: 'bluegreen_needs_checks', message: 'the bluegreen strategy needs at least one health check that gates routing', hint: 'add [[http_service.checks]] (or [[services.http_checks]] / [[services.tcp_checks]]) to hangar.toml' });
    }
    const versions = new Map<string, string[]>();
    for (const m of machines) {
      const v = m.config.metadata.fly_release_version ?? 'none';
      versions.set(v, [...(versions.get(v) ?? []), m.id]);
    }
    if (versions.size > 1) {
      const list = [...versions].map(([v, ids]) => `${v === 'none' ? 'no release' : `v${v}`}: ${ids.join(', ')}`).join('; ');
      throw new UserError({ code: 'mixed_releases', message: `bluegreen needs every machine on one release, but this app runs several (${list})`, hint: 'bring them to one release first with a rolling deploy' });
    }
  }
  if (strategy === 'canary') {
    const count = cfg.deploy.canary.count;
    for (const g of new Set(machines.map(groupOf))) {
      const n = machines.filter((m) => groupOf(m) === g).length;
      if (count > n) {
        throw new UserError({ code: 'canary_too_large', message: `[deploy.canary] count = ${count} is larger than process group ${g} (${n} machine(s))`, hint: 'lower [deploy.canary] count', details: [{ path: 'deploy.canary.count', message: `more than the ${n} machine(s) of ${g}`, value: count }] });
      }
    }
    if (machines.length === 0) throw new UserError({ code: 'canary_needs_machines', message: 'a canary deploy needs a running app to compare against', hint: 'deploy once with the rolling strategy first' });
  }
}

/**
 * min_machines_running above the machines a service group has (2 for a group a first deploy creates):
 * a warning each. Per group, so a worker group's machines never count towards a web service's minimum.
 */
export function minRunningWarnings(cfg: AppConfig, machines: Machine[], image: string): string[] {
  const out: string[] = [];
  for (const g of processGroups(cfg)) {
    const min = Math.max(0, ...machineConfigFor(cfg, { group: g, image }).services.map((sv) => sv.min_machines_running ?? 0));
    const have = machines.filter((m) => groupOf(m) === g).length;
    const count = have > 0 ? have : 2;
    if (min > count) out.push(`min_machines_running = ${min} is more than the app's ${count} machine(s); autostop will simply stop none`);
  }
  return out;
}
