/**
 * Request metrics kept over time: the daemon's recorder of an hour of per-app and per-release traffic
 * (from the proxies' rolling windows), and where it learns each app's machines and their releases.
 */
export { MetricsHistory, historyIntervalFromEnv, DEFAULT_HISTORY_INTERVAL_MS, HISTORY_INTERVAL_MS, HISTORY_SPAN_MS } from './history.js';
export type { AppHistory, HistoryFigures, HistoryPoint, MetricsHistoryOptions, RoundOutcome } from './history.js';
export { releaseOf, storedFleet } from './fleet.js';
export type { AppMachines, FleetSource } from './fleet.js';
