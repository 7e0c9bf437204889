/**
 * What a node asks of every other live node at once: their log streams of an app, their proxies'
 * request counts. Any node the user asks answers for the whole cluster this way; a node that does not
 * answer is left out and logged, never an error for the caller.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { TrafficWindows, WindowCounts, WindowScope, WindowStats } from '../core/window-stats.js';
import { addCounts, statsOf } from '../proxy/metrics.js';
import type { HostRegistry, HostStatus } from './host-registry.js';
import type { NodeClient } from './node-client.js';
import { INTERNAL_ROUTES, internalPath } from './internal-paths.js';


/** How long a peer has to send its window sums: a canary tick waits for the slowest. */
const WINDOW_TIMEOUT_MS = 2000;

export class ClusterPeers implements TrafficWindows {
  constructor(private readonly deps: { hosts: HostRegistry; node: NodeClient; metrics: { countsOf(scopes: WindowScope[], windowMs: number): Promise<WindowCounts[]> }; log: Logger }) {}

  /** Every other host whose node is not judged down. */
  async others(): Promise<HostStatus[]> {
    const self = this.deps.hosts.host.id;
    return (await this.deps.hosts.list()).filter((h) => h.id !== self && h.state !== 'down');
  }

  /** The other nodes' streams of an app's log lines for `query` (this node adds its own). */
  async logStreams(app: string, query: URLSearchParams, signal: AbortSignal): Promise<Readable[]> {
    const got = await Promise.all(
      (await this.others()).map((h) =>
        this.deps.node.stream(h, `${internalPath(INTERNAL_ROUTES.logs, { app })}?${query}`, { signal, timeoutMs: 24 * 3600_000 }).catch((err) => void this.deps.log.warn({ err, host: h.name }, 'could not read logs from another node')),
      ),
    );
    return got.filter((s): s is NonNullable<typeof s> => s !== undefined);
  }

  /**
   * Each scope's window summed over every node's proxy. A request is counted by the proxy it entered
   * (a relayed request is not counted again by the node that hands it to the machine), so the sum
   * counts every request once.
   */
  async windows(scopes: WindowScope[], windowMs: number): Promise<WindowStats[]> {
    const sums = await this.deps.metrics.countsOf(scopes, windowMs);
    const remote = await Promise.all(
      (await this.others()).map((h) =>
        this.deps.node
          .call<{ counts: WindowCounts[] }>(h, INTERNAL_ROUTES.windows, { scopes, window_ms: windowMs }, { timeoutMs: WINDOW_TIMEOUT_MS })
          .catch((err) => void this.deps.log.warn({ err, host: h.name }, "could not read another node's proxy metrics; its requests are not counted in this window")),
      ),
    );
    for (const r of remote) r?.counts.forEach((c, i) => sums[i] && addCounts(sums[i], c));
    return sums.map(statsOf);
  }
}
