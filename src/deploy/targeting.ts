import { UserError } from '../core/errors.js';
import type { Targeting } from '../core/deploy.js';
import type { Machine } from '../core/types.js';

/**
 * Applies Fly's targeting flags to an app's machines. Unknown ids in --only-machines are an error
 * (nothing is deployed), and so is a filter that matches no machine — unless the deploy is about to
 * create machines for a process group that has none yet.
 */
export function selectMachines(all: Machine[], t: Targeting, opts: { creating?: boolean } = {}): Machine[] {
  const byId = new Map(all.map((m) => [m.id, m]));
  const unknown = (t.onlyMachines ?? []).filter((id) => !byId.has(id));
  if (unknown.length) {
    throw new UserError({
      code: 'unknown_machines',
      message: `--only-machines names machines this app does not have: ${unknown.join(', ')}`,
      hint: 'list them with: hangar machines list',
      details: unknown.map((id) => ({ path: 'only_machines', message: 'unknown machine', value: id })),
    });
  }
  const groupOf = (m: Machine) => m.config.metadata.fly_process_group ?? 'app';
  const picked = all.filter(
    (m) =>
      (!t.onlyMachines?.length || t.onlyMachines.includes(m.id)) &&
      !t.excludeMachines?.includes(m.id) &&
      (!t.regions?.length || t.regions.includes(m.region)) &&
      !t.excludeRegions?.includes(m.region) &&
      (!t.processGroups?.length || t.processGroups.includes(groupOf(m))),
  );
  if (picked.length === 0 && isFiltered(t) && !opts.creating) {
    throw new UserError({ code: 'no_machines_selected', message: 'the targeting flags match no machine of this app', hint: 'check --only-machines, --regions, --exclude-*, --process-groups against: hangar machines list' });
  }
  return picked;
}

export function isFiltered(t: Targeting): boolean {
  return Boolean(t.onlyMachines?.length || t.excludeMachines?.length || t.regions?.length || t.excludeRegions?.length || t.processGroups?.length);
}
