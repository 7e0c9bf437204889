import type { IncomingHttpHeaders } from 'node:http';
import type { TrafficPin, TrafficSet } from '../core/types.js';

/** The routing table's shapes: what it holds per machine instance, per app, and how it is replicated. */

/** One machine instance as the proxy sees it. */
export interface Backend {
  machineId: string;
  instanceId: string;
  app: string;
  region: string;
  host: string;
  port: number;
  /** started, not cordoned, not leaving, and passing its routing checks. */
  routable: boolean;
  /** Requests (and upgraded connections) currently being served (by this process). */
  inflight: number;
  /**
   * With proxy workers, a machine under concurrency limits: its requests in flight over every worker
   * (the daemon's count, which grants each one). Limits and balancing go by it when set.
   */
  shared?: number;
  /** Above this, other machines are preferred. */
  softLimit?: number;
  /** At this, the machine takes no new work. */
  hardLimit?: number;
  /** Last time a request started or ended here (or when it joined), for autostop. */
  lastActivity: number;
  /** On another host: `host:port` is that host's node, which hands the request to the machine. */
  remote?: boolean;
  /** The machine is spoken to in HTTP/2 without TLS (`h2_backend`). */
  h2?: boolean;
  /** Its host's node refused a relay because the machine was at its hard limit: passed over until then (ms epoch). */
  fullUntil?: number;
}

/** Per-app settings the proxy applies (from the app's stored routing). */
export interface AppTraffic {
  holdMs: number;
  idleTimeoutMs?: number;
  sets?: TrafficSet[];
  pins?: TrafficPin[];
}

/**
 * A change of the table, as the proxy's worker processes replay it on their copies (see `onOp`).
 * Requests in flight are each copy's own; the daemon's table learns them from the workers' reports.
 */
export type TableOp =
  | { k: 'upsert'; u: BackendUpdate }
  | { k: 'healthy'; machineId: string; instanceId: string; healthy: boolean }
  | { k: 'remove'; app: string; machineId: string }
  | { k: 'dropApp'; app: string }
  | { k: 'traffic'; app: string; t: AppTraffic }
  | { k: 'home'; region: string | undefined };

/** Everything a fresh copy of the table needs (in-flight counts excepted). */
export interface TableSnapshot {
  ops: TableOp[];
}

/** Autostop's default idle window. */
export const DEFAULT_IDLE_MS = 5 * 60_000;

export interface PickOptions {
  /** Preferred region (a preference: other regions when it has no machine). */
  region?: string;
  exclude?: Set<string>;
  headers?: IncomingHttpHeaders;
  /** Only this machine, whatever the traffic sets, limits below the hard one and regions say. */
  only?: string;
  /** Only these regions: the first with a machine that can take the request; `any` is every region. */
  regions?: string[];
  /** This machine when it can take the request, before the traffic sets and the balancing. */
  preferMachine?: string;
}

export interface BackendUpdate {
  machineId: string;
  instanceId: string;
  app: string;
  region: string;
  host: string;
  port: number | null;
  /** Whether the machine's state allows traffic (started, not cordoned). */
  inService: boolean;
  softLimit?: number;
  hardLimit?: number;
  /** The machine runs on another host, reached through that host's node at `host:port`. */
  remote?: boolean;
  /** `h2_backend`: h2c to the machine. */
  h2?: boolean;
}
