/**
 * What the daemon and its proxy workers say to each other over the cluster IPC channel (JSON). The
 * daemon owns the routing; a worker keeps a copy of the table (a snapshot, then every change), serves
 * requests from it, and reports what only it knows: requests in flight, metrics, failures.
 */
import type { WindowCounts, WindowScope } from '../../core/window-stats.js';
import type { ProxyError } from '../proxy-server.js';
import type { PortRefusal } from '../listeners.js';
import type { TableOp, TableSnapshot } from '../routing-table.js';
import type { Shed } from './packing.js';

/** Hostnames and force_https, as the daemon's routing has them. */
export interface HostView {
  hostnames: Array<[string, string]>;
  forceHttps: string[];
}

/** A certificate a worker serves (PEM), by hostname. */
export interface CertPem {
  hostname: string;
  app: string;
  /** Absent while the hostname has no certificate (it routes to its app all the same). */
  cert?: string;
  key?: string;
}

export interface Address {
  host: string;
  port: number;
}

export interface WorkerInit {
  snapshot: TableSnapshot;
  hosts: HostView;
  certs: CertPem[];
  relayToken?: string;
  listen: Address;
  tls?: Address;
  ports: Array<{ app: string; ports: number[]; tlsPorts: number[] }>;
}

/** Questions the daemon asks every worker, each answered once. */
export type WorkerQuery =
  | { q: 'openPorts'; app: string; ports: number[]; tlsPorts: number[] }
  | { q: 'counts'; scopes: WindowScope[]; windowMs: number }
  | { q: 'prometheus' }
  | { q: 'drain'; machineId: string; instanceId: string; timeoutMs: number }
  | { q: 'close' };

export interface WorkerAnswers {
  openPorts: PortRefusal[];
  counts: WindowCounts[];
  prometheus: unknown[];
  drain: null;
  close: null;
}

export type ToWorker =
  | { t: 'init'; init: WorkerInit }
  | { t: 'op'; op: TableOp }
  | { t: 'hosts'; hosts: HostView }
  | { t: 'certs'; certs: CertPem[] }
  | { t: 'ports'; app: string; ports: number[]; tlsPorts: number[] }
  | { t: 'forget'; machineId: string }
  /** Every worker's requests on a limited instance, after a place was taken or given back. */
  | { t: 'load'; app: string; machineId: string; instanceId: string; n: number }
  | { t: 'ask'; id: number; query: WorkerQuery }
  | { t: 'answer'; id: number; value?: unknown; error?: string }
  /** What to do with the connections of the requests it answers (packing.ts). */
  | { t: 'shed'; shed: Shed };

/** In flight on one instance in this worker: app, machine, instance, count, last activity (ms). */
export type InflightEntry = [string, string, string, number, number];

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; port: number; tlsPort?: number }
  | { t: 'inflight'; entries: InflightEntry[] }
  | { t: 'noCapacity'; app: string }
  | { t: 'proxyError'; app: string; e: ProxyError }
  | { t: 'portsFailed'; app: string; failed: Array<{ port: number; error: string }> }
  | { t: 'challenge'; id: number; token: string }
  /** A place on a limited instance (answered true, or false at its hard limit). */
  | { t: 'permit'; id: number; app: string; machineId: string; instanceId: string; hard?: number }
  | { t: 'unpermit'; app: string; machineId: string; instanceId: string }
  | { t: 'answer'; id: number; value?: unknown; error?: string }
  /** How busy its event loop was since its last report (0–1). */
  | { t: 'elu'; elu: number };
