/**
 * The state layer: one repository per aggregate over a Kysely database. Callers get core types back and
 * never see SQL or the dialect; `openState` is where a PostgreSQL dialect would be chosen.
 */
import { AppsRepo } from './apps-repo.js';
import { DeploymentsRepo } from './deployments-repo.js';
import { ReleasesRepo } from './releases-repo.js';
import { openSqlite, type Db } from './db.js';
import { ImagesRepo } from './images-repo.js';
import { LeasesRepo } from './leases-repo.js';
import { MachinesRepo } from './machines-repo.js';
import { SecretsRepo } from './secrets-repo.js';

export interface State {
  db: Db;
  apps: AppsRepo;
  machines: MachinesRepo;
  leases: LeasesRepo;
  images: ImagesRepo;
  releases: ReleasesRepo;
  deployments: DeploymentsRepo;
  secrets: SecretsRepo;
  close(): Promise<void>;
}

export function stateFrom(db: Db): State {
  return {
    db,
    apps: new AppsRepo(db),
    machines: new MachinesRepo(db),
    leases: new LeasesRepo(db),
    images: new ImagesRepo(db),
    releases: new ReleasesRepo(db),
    deployments: new DeploymentsRepo(db),
    secrets: new SecretsRepo(db),
    close: () => db.destroy(),
  };
}

export async function openState(file: string): Promise<State> {
  return stateFrom(await openSqlite(file));
}

export type { Db } from './db.js';
export type { MachineFilter } from './machines-repo.js';
export type { StoredSecret } from './secrets-repo.js';
export { AppsRepo, DeploymentsRepo, ImagesRepo, LeasesRepo, MachinesRepo, ReleasesRepo, SecretsRepo };
