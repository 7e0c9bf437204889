/**
 * The state layer: one repository per aggregate over a Kysely database. Callers get core types back and
 * never see SQL or the dialect; `openState` picks SQLite (one host) or PostgreSQL (a cluster).
 */
import { AppsRepo } from './apps-repo.js';
import { CertsRepo } from './certs-repo.js';
import { DashboardRepo } from './dashboard-repo.js';
import { DeploymentsRepo } from './deployments-repo.js';
import { ReleasesRepo } from './releases-repo.js';
import { openDb, type Db, type StateLocation } from './db.js';
import type { Dialect } from './migrations.js';
import { HostsRepo } from './hosts-repo.js';
import { ImagesRepo } from './images-repo.js';
import { LeasesRepo } from './leases-repo.js';
import { MachinesRepo } from './machines-repo.js';
import { SecretsRepo } from './secrets-repo.js';

export interface State {
  db: Db;
  dialect: Dialect;
  apps: AppsRepo;
  machines: MachinesRepo;
  leases: LeasesRepo;
  images: ImagesRepo;
  releases: ReleasesRepo;
  deployments: DeploymentsRepo;
  secrets: SecretsRepo;
  hosts: HostsRepo;
  certs: CertsRepo;
  dashboard: DashboardRepo;
  close(): Promise<void>;
}

export function stateFrom(db: Db, dialect: Dialect = 'sqlite', close: () => Promise<void> = () => db.destroy()): State {
  return {
    db,
    dialect,
    apps: new AppsRepo(db),
    machines: new MachinesRepo(db),
    leases: new LeasesRepo(db),
    images: new ImagesRepo(db),
    releases: new ReleasesRepo(db),
    deployments: new DeploymentsRepo(db),
    secrets: new SecretsRepo(db),
    hosts: new HostsRepo(db),
    certs: new CertsRepo(db),
    dashboard: new DashboardRepo(db),
    close,
  };
}

/** Opens the state: a path is a SQLite file; a location object may name a PostgreSQL database. */
export async function openState(where: string | StateLocation): Promise<State> {
  const o = await openDb(typeof where === 'string' ? { kind: 'sqlite', file: where } : where);
  return stateFrom(o.db, o.dialect, o.close);
}

export type { Db, StateLocation } from './db.js';
export type { Dialect } from './migrations.js';
export type { MachineFilter } from './machines-repo.js';
export type { StoredSecret } from './secrets-repo.js';
export type { AttemptOutcome, CertMaterial, StoredAcmeAccount } from './certs-repo.js';
export type { StoredSession } from './dashboard-repo.js';
export { AppsRepo, CertsRepo, DashboardRepo, DeploymentsRepo, HostsRepo, ImagesRepo, LeasesRepo, MachinesRepo, ReleasesRepo, SecretsRepo };
