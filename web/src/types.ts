/** The parts of the daemon's API answers the dashboard reads (the API's OpenAPI document has them all). */

export interface AppInfo {
  name: string;
  status: string;
  machine_count: number;
  hostname: string;
  url: string | null;
}

export interface Check {
  name: string;
  status: string;
  output: string;
  updated_at: string;
}

export interface MachineInfo {
  id: string;
  name: string;
  state: string;
  region: string;
  host: string;
  host_id: string;
  host_status: string;
  private_ip: string;
  image_ref: { registry: string; repository: string; tag: string; digest: string };
  config: { image: string };
  process_group: string;
  release_version: number | null;
  checks: Check[];
  inflight: number;
  address: string | null;
  cordoned: boolean;
}

export interface ReleaseInfo {
  version: number;
  stable: boolean;
  status: string;
  description: string;
  user: string;
  image: string;
  strategy: string;
  created_at: string;
}

export interface DeploymentMachine {
  id: string;
  group: string;
  region: string;
  outcome: string;
  error?: string;
}

export interface DeploymentInfo {
  id: string;
  app: string;
  release: number;
  status: string;
  phase: string;
  strategy: string;
  machines: DeploymentMachine[];
  error: string | null;
  created_at: string;
  updated_at: string;
  extra: Record<string, unknown>;
  paused: boolean;
}

export interface Figures {
  requests: number;
  errorRate: number;
  p95Ms: number | null;
}

export type DeployEvent =
  | { type: 'phase'; phase: string; message: string }
  | { type: 'machine'; machineId: string; outcome: string; message: string; step?: string }
  | { type: 'log'; source: string; line: string }
  | { type: 'warning'; message: string }
  | { type: 'decision'; step: number; weight: number; verdict: string; reason: string; canary: Figures; stable: Figures }
  | { type: 'done'; status: string; release: number; message: string; url: string | null };

export interface DeployEventLine {
  seq: number;
  at: string;
  event: DeployEvent;
}

export interface SecretInfo {
  name: string;
  digest: string;
  updated_at: string;
}

export interface LogLine {
  timestamp: string;
  source: string;
  app: string;
  machine_id?: string;
  region?: string;
  stream?: string;
  level: string;
  message: string;
  host?: string;
}

export interface HostInfo {
  id: string;
  name: string;
  region: string;
  address: string;
  state: string;
  machines: number;
}
