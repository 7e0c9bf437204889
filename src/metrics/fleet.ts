import type { Machine } from '../core/types.js';

/** An app and its machines with the release each runs: what the history recorder groups traffic by. */
export interface AppMachines {
  app: string;
  machines: Array<{ id: string; release: number | null }>;
}

/** Where the recorder learns the apps and their machines (every host's, in a cluster). */
export type FleetSource = () => Promise<AppMachines[]>;

/** A machine's release version; null when it has none (created outside a deploy) or not a number. */
export function releaseOf(m: Pick<Machine, 'config'>): number | null {
  const v = m.config.metadata.fly_release_version;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : null;
}

/**
 * A FleetSource reading the stored apps and machines. Destroyed machines are left out (the proxy has
 * forgotten their traffic); stopped ones stay, since they may have served part of the last interval.
 */
export function storedFleet(state: { apps: { list(): Promise<Array<{ name: string }>> }; machines: { list(): Promise<Machine[]> } }): FleetSource {
  return async () => {
    const [apps, machines] = await Promise.all([state.apps.list(), state.machines.list()]);
    const byApp = new Map<string, AppMachines>(apps.map((a) => [a.name, { app: a.name, machines: [] }]));
    for (const m of machines) byApp.get(m.appName)?.machines.push({ id: m.id, release: releaseOf(m) });
    return [...byApp.values()];
  };
}
