/**
 * Deploy domain: releases, deployments and the typed progress events deploys emit (the CLI renders
 * them; nothing in a strategy prints).
 */

export const STRATEGIES = ['rolling', 'immediate', 'bluegreen', 'canary', 'rotate'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export const RELEASE_STATUSES = ['running', 'complete', 'failed', 'rolled_back', 'interrupted'] as const;
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/**
 * How far a machine being updated in place (health-gated) has gone: its new instance started, passing
 * its checks, taking the traffic, and the old instance drained and stopped.
 */
export const MACHINE_STEPS = ['started', 'passing', 'switched', 'drained'] as const;
export type MachineStep = (typeof MACHINE_STEPS)[number];

export type MachineOutcome = 'pending' | 'updating' | 'updated' | 'failed' | 'untouched' | 'rolled_back' | 'created' | 'destroyed';

export interface Release {
  appName: string;
  version: number;
  status: ReleaseStatus;
  imageRef: string;
  strategy: StrategyName;
  /** Snapshot of the deployed config (normalised AppConfig as JSON). */
  config: unknown;
  user: string;
  description: string;
  /** Set when the release was complete and every targeted machine was healthy on it. */
  stable: boolean;
  createdAt: string;
  updatedAt: string;
}

/** Which machines a deploy touches; everything outside is left on its release. */
export interface Targeting {
  onlyMachines?: string[];
  excludeMachines?: string[];
  regions?: string[];
  excludeRegions?: string[];
  processGroups?: string[];
}

export interface DeployOptions {
  strategy: StrategyName;
  maxUnavailable: number;
  waitTimeoutMs: number;
  releaseCommandTimeoutMs: number;
  skipReleaseCommand: boolean;
  maxFailures: number;
  autoRollback: boolean;
  targeting: Targeting;
  /** A rollback: health-gated but no canary steps and no soak. */
  fastPath: boolean;
  /** rotate: after this (from the deploy's start), busy stragglers are drained and updated anyway. */
  rotateDeadlineMs?: number;
  /** rotate: a started machine with no request in flight for this long counts as idle (default 10s). */
  rotateIdleMs?: number;
  /** Webhooks told about this deploy (from `[[deploy.notify]]` and `--notify`). */
  notify?: Array<{ url: string; events: string[] }>;
}

export type DeploymentPhase =
  | 'pending'
  | 'release_command'
  | 'create_machines'
  | 'update_machines'
  | 'create_green'
  | 'awaiting_promotion'
  | 'cutover'
  | 'drain_old'
  | 'canary'
  | 'promote'
  | 'rolling_back'
  | 'done';

/** Per-machine progress, persisted so a restarted daemon knows where each machine stands. */
export interface MachineProgress {
  machineId: string;
  group: string;
  region: string;
  outcome: MachineOutcome;
  /** The machine's release before this deploy touched it (what a rollback returns it to). */
  fromVersion: number | null;
  fromImage: string;
  fromConfig: unknown;
  error?: string;
}

export interface Deployment {
  id: string;
  appName: string;
  releaseVersion: number;
  status: ReleaseStatus;
  phase: DeploymentPhase;
  options: DeployOptions;
  machines: MachineProgress[];
  error?: string;
  /** The strategy's own state (bluegreen: green set, cut over; canary: step, weights, last decision). */
  extra?: Record<string, unknown>;
  /** The user paused it (canary): stored at once, so a restarted daemon resumes it still paused. */
  paused?: boolean;
  /** The host whose node runs the deploy while its claim holds (read-only here: see DeploymentsRepo.claimRunner). */
  runner?: string;
  createdAt: string;
  updatedAt: string;
}

/** Progress events, persisted in order per deployment so a watcher can replay and follow. */
export type DeployEvent =
  | { type: 'phase'; phase: DeploymentPhase; message: string }
  | { type: 'machine'; machineId: string; outcome: MachineOutcome; message: string; step?: MachineStep }
  | { type: 'log'; source: 'release_command' | 'machine_check' | 'build'; line: string }
  | { type: 'warning'; message: string }
  | { type: 'decision'; step: number; weight: number; verdict: 'continue' | 'abort' | 'promote' | 'wait'; reason: string; canary: MetricsSummary; stable: MetricsSummary }
  | { type: 'done'; status: ReleaseStatus; release: number; message: string; url: string | null };

export interface MetricsSummary {
  requests: number;
  errorRate: number;
  p95Ms: number | null;
}

export interface StoredDeployEvent {
  seq: number;
  at: string;
  event: DeployEvent;
}

/** `max_unavailable` semantics (Fly's): ≥ 1 is a count, < 1 a fraction of the group, at least one. */
export function batchSize(maxUnavailable: number, groupSize: number): number {
  if (maxUnavailable >= 1) return Math.max(1, Math.floor(maxUnavailable));
  return Math.max(1, Math.floor(maxUnavailable * groupSize));
}
