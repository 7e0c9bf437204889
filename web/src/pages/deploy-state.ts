import type { DeployEvent, DeployEventLine, DeploymentInfo, Figures } from '../types.js';

export interface Decision {
  at: string;
  step: number;
  weight: number;
  verdict: string;
  reason: string;
  canary: Figures;
  stable: Figures;
}

/** What the deploy view shows, folded from the deployment's snapshot and its event stream. */
export interface DeployState {
  phases: Array<{ phase: string; message: string; at: string }>;
  /** Each machine's latest outcome and step; `error` keeps its failure after a rollback moves it on. */
  machines: Record<string, { outcome: string; message: string; at: string; step?: string; error?: string }>;
  decisions: Decision[];
  warnings: string[];
  logs: string[];
  done?: { status: string; message: string; url: string | null };
  lastSeq: number;
}

export const emptyState = (): DeployState => ({ phases: [], machines: {}, decisions: [], warnings: [], logs: [], lastSeq: 0 });

const LOG_LINES = 300;

/** One event applied (a new object, for the renderer). Events at or before `lastSeq` were seen. */
export function fold(s: DeployState, line: DeployEventLine): DeployState {
  if (line.seq <= s.lastSeq) return s;
  const e: DeployEvent = line.event;
  const next = { ...s, lastSeq: line.seq };
  switch (e.type) {
    case 'phase':
      next.phases = [...s.phases, { phase: e.phase, message: e.message, at: line.at }];
      break;
    case 'machine':
      // A step is progress within `updating`; a new outcome starts the machine's way afresh.
      const prev = s.machines[e.machineId];
      next.machines = {
        ...s.machines,
        [e.machineId]: { outcome: e.outcome, message: e.message, at: line.at, step: e.step ?? (e.outcome === prev?.outcome ? prev?.step : undefined), error: e.outcome === 'failed' ? e.message : prev?.error },
      };
      break;
    case 'decision':
      next.decisions = [...s.decisions, { at: line.at, step: e.step, weight: e.weight, verdict: e.verdict, reason: e.reason, canary: e.canary, stable: e.stable }];
      break;
    case 'warning':
      next.warnings = [...s.warnings, e.message];
      break;
    case 'log':
      next.logs = [...s.logs, `${e.source}: ${e.line}`].slice(-LOG_LINES);
      break;
    case 'done':
      next.done = { status: e.status, message: e.message, url: e.url };
      break;
  }
  return next;
}

/** A machine's way through a deploy, as far as it has gone. */
export const STEPS = ['updating', 'started', 'passing', 'switched', 'old drained'] as const;

/**
 * How many of STEPS a machine has done: from its outcome and the step events of an in-place update,
 * else (a host whose node keeps the steps to itself, a machine being created) from the machine itself:
 * started on the new release, its checks passing.
 */
export function stepsDone(outcome: string, step: string | undefined, live: { state: string; release_version: number | null; checks: Array<{ status: string }> } | undefined, release: number): number {
  if (outcome === 'updated') return STEPS.length;
  if (outcome !== 'updating' && outcome !== 'created') return 0;
  const byEvent = step ? STEP_OF[step] ?? 1 : 1;
  let byMachine = 1;
  if (live && live.state === 'started' && live.release_version === release) byMachine = live.checks.every((c) => c.status === 'passing') ? 3 : 2;
  return Math.max(byEvent, byMachine);
}

const STEP_OF: Record<string, number> = { started: 2, passing: 3, switched: 4, drained: 5 };

/** The deploy's own state: canaries, weight; bluegreen's green set. */
export function strategyState(d: DeploymentInfo): { canaries: string[]; weight: number | undefined; green: string[]; cut: boolean } {
  const x = d.extra as { canaries?: string[]; weight?: number; green?: string[]; cut?: boolean };
  return { canaries: x.canaries ?? [], weight: x.weight, green: x.green ?? [], cut: x.cut ?? false };
}
