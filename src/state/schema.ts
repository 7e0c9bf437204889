import type { Generated } from 'kysely';

/** Row shapes as stored. JSON columns hold serialised text; repositories turn rows into core types. */
export interface AppsTable {
  id: string;
  name: string;
  created_at: string;
  /** JSON of the app's AppRouting. */
  routing: Generated<string>;
}

export interface MachineChecksTable {
  machine_id: string;
  name: string;
  status: string;
  output: string;
  updated_at: string;
}

export interface MachinesTable {
  id: string;
  app_id: string;
  name: string;
  state: string;
  region: string;
  /** Null only on rows from before hosts existed; the single node claims them at start. */
  host_id: string | null;
  instance_id: string;
  image_ref: string;
  config: string;
  cordoned: number;
  runtime: string;
  port: number | null;
  restart_count: number;
  started_at: string | null;
  last_exit_code: number | null;
  created_at: string;
  updated_at: string;
}

export interface MachineEventsTable {
  id: Generated<number>;
  machine_id: string;
  type: string;
  status: string;
  source: string;
  timestamp: number;
  exit_code: number | null;
  signal: string | null;
  message: string | null;
}

export interface LeasesTable {
  machine_id: string;
  nonce: string;
  owner: string;
  description: string;
  expires_at: number;
}

export interface ImagesTable {
  app_id: string;
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  size_bytes: number;
  file_count: number;
  created_at: string;
  runtime: 'process' | 'docker';
}

export interface ReleasesTable {
  app_id: string;
  version: number;
  status: string;
  image_ref: string;
  strategy: string;
  config: string;
  user: string;
  description: string;
  stable: number;
  created_at: string;
  updated_at: string;
}

export interface DeploymentsTable {
  id: string;
  app_id: string;
  release_version: number;
  status: string;
  phase: string;
  options: string;
  machines: string;
  error: string | null;
  created_at: string;
  updated_at: string;
  /** JSON: the strategy's own persisted state (green set, canary step, weights, last decision). */
  extra: Generated<string>;
  /** 1 while the user has the deploy paused. */
  paused: Generated<number>;
  /** The host whose node runs the deploy, and until when (ms) its claim holds without renewal. */
  runner: string | null;
  runner_until: number | null;
}

export interface DeploymentEventsTable {
  deployment_id: string;
  seq: number;
  at: string;
  event: string;
}

/** One secret: its value sealed with the daemon's key (AES-256-GCM), never in clear. */
export interface SecretsTable {
  app_id: string;
  name: string;
  sealed: string;
  digest: string;
  key_id: string;
  created_at: string;
  updated_at: string;
}

export interface HostsTable {
  id: string;
  name: string;
  region: string;
  address: string;
  api_port: number;
  proxy_port: number;
  cpus: number;
  memory_mb: number;
  /** JSON array of runtime kinds. */
  runtimes: string;
  draining: Generated<number>;
  version: string;
  heartbeat: Generated<number>;
  last_seen_at: number;
  started_at: string;
  created_at: string;
}

/** Settings every node shares: the API token, the cluster secret (unless given by file). */
export interface ClusterSettingsTable {
  name: string;
  value: string;
}

/** Whether a machine's current instance passes the checks that gate its traffic (its host decides). */
export interface MachineHealthTable {
  machine_id: string;
  instance_id: string;
  routable: number;
  updated_at: number;
}

/** A TLS certificate of one hostname (see core/certificate.ts); the private key only sealed. */
export interface CertificatesTable {
  hostname: string;
  app_id: string;
  status: string;
  source: string;
  cert_pem: string | null;
  key_sealed: string | null;
  key_id: string | null;
  issuer: string | null;
  serial: string | null;
  not_before: number | null;
  not_after: number | null;
  last_error: string | null;
  attempts: Generated<number>;
  next_attempt_at: number | null;
  claimed_by: string | null;
  claimed_until: number | null;
  revision: Generated<number>;
  created_at: string;
  updated_at: string;
}

/** An ACME HTTP-01 challenge being answered: any node's proxy reads the answer here. */
export interface AcmeChallengesTable {
  token: string;
  hostname: string;
  key_authorization: string;
  expires_at: number;
}

/** The ACME account of a CA directory: its key sealed, its URL once the CA gave it. */
export interface AcmeAccountsTable {
  directory_url: string;
  key_sealed: string;
  key_id: string;
  url: string | null;
  created_at: string;
}

/** A one-time dashboard login code (its SHA-256), redeemable once before it expires. */
export interface DashboardCodesTable {
  code_hash: string;
  expires_at: number;
}

/** A dashboard session (the cookie's SHA-256) with the CSRF token its mutating requests carry. */
export interface DashboardSessionsTable {
  session_hash: string;
  csrf: string;
  created_at: number;
  expires_at: number;
}

export interface Database {
  dashboard_codes: DashboardCodesTable;
  dashboard_sessions: DashboardSessionsTable;
  certificates: CertificatesTable;
  acme_challenges: AcmeChallengesTable;
  acme_accounts: AcmeAccountsTable;
  machine_health: MachineHealthTable;
  hosts: HostsTable;
  cluster_settings: ClusterSettingsTable;
  apps: AppsTable;
  machines: MachinesTable;
  machine_events: MachineEventsTable;
  leases: LeasesTable;
  images: ImagesTable;
  machine_checks: MachineChecksTable;
  releases: ReleasesTable;
  deployments: DeploymentsTable;
  deployment_events: DeploymentEventsTable;
  secrets: SecretsTable;
}
