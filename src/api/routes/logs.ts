import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { ServerResponse } from 'node:http';
import type { LogLine } from '../contract.js';
import { AppParams, LogLineView, LogsQuery } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';

/** The other nodes of a cluster, for logs: each one's own lines of an app, as NDJSON streams. */
export interface LogPeers {
  /** One stream per other live node of its own lines of `app` for `query` (nodes that fail are skipped). */
  logStreams(app: string, query: URLSearchParams, signal: AbortSignal): Promise<Readable[]>;
}

type Query = { follow?: 'true' | 'false'; machine?: string; region?: string; source?: string; limit: number };

/**
 * NDJSON log stream: history first, then (with follow=true) new lines as they are stored. `machine`
 * keeps only lines about that machine (app-wide deploy and proxy lines go); `region` keeps only lines
 * about machines in that region (app-wide lines carry none, so they go too); `source` keeps the listed
 * sources. In a cluster the node asked merges every other node's lines (their machines' output, their
 * proxies' and deploys' lines) into one stream, each line naming its host.
 */
export function logRoutes(app: Api, deps: ApiDeps): void {
  const raw = { mediaType: 'application/x-ndjson', schema: LogLineView, description: 'One log line (JSON) per line; with follow=true the stream stays open, with an empty line every 15s to keep it alive' };
  const schema = route({ tags: ['logs'], summary: 'App logs (machine output and platform lines) as NDJSON', params: AppParams, querystring: LogsQuery, raw });
  app.get('/v1/apps/:app/logs', { schema }, async (req, reply) => {
    reply.hijack();
    await streamLogs(deps, reply.raw, req.params.app, req.query, deps.logPeers);
  });
}

/** The same stream of this node's own lines only, for the node that merges them (see internal.ts). */
export async function localLogs(deps: ApiDeps, http: ServerResponse, app: string, q: Query): Promise<void> {
  await streamLogs(deps, http, app, q, undefined);
}

async function streamLogs(deps: ApiDeps, http: ServerResponse, name: string, q: Query, peers: LogPeers | undefined): Promise<void> {
  const machines = await deps.machines.list(name, { includeDestroyed: true });
  const collected = deps.logs.machinesOf(name);
  // Release-command machines are not in state: the collector knows them by id.
  const only = q.machine ? new Set([...machines.filter((m) => m.id === q.machine || m.name === q.machine).map((m) => m.id), ...collected.filter((id) => id === q.machine)]) : undefined;
  const sources = q.source ? new Set(q.source.split(',')) : undefined;
  const matches = (l: LogLine) =>
    l.app === name && (!only || (l.machine_id !== undefined && only.has(l.machine_id))) && (!q.region || l.region === q.region) && (!sources || sources.has(l.source));
  const ids = only ?? new Set([...machines.map((m) => m.id), ...collected]);
  const own = (l: LogLine): LogLine => (deps.hostName ? { ...l, host: deps.hostName } : l);
  const stop = new AbortController();
  http.on('close', () => stop.abort());
  const params = new URLSearchParams(Object.entries({ machine: q.machine, region: q.region, source: q.source }).filter((e): e is [string, string] => e[1] !== undefined));
  // A follower is subscribed everywhere (here and on the other nodes) before the history is read and
  // before the stream is announced open, so no line stored meanwhile is lost; those are held back until
  // the history is out.
  const held: string[] = [];
  let live = false;
  const send = (text: string) => {
    if (stop.signal.aborted) return;
    if (live) http.write(text + '\n');
    else held.push(text);
  };
  let off = () => {};
  if (q.follow === 'true') {
    off = deps.logs.onStored((l) => {
      if (matches(l)) send(JSON.stringify(own(l)));
    });
    for (const s of peers ? await peers.logStreams(name, new URLSearchParams([...params, ['limit', '0'], ['follow', 'true']]), stop.signal) : []) {
      const lines = createInterface({ input: s });
      lines.on('line', (line) => {
        if (line.trim()) send(line);
      });
      // A follower that leaves aborts these streams: that error is the end of them, never a crash.
      lines.on('error', () => lines.close());
      s.on('error', () => lines.close());
    }
  }
  http.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // A follower with nothing to read yet still learns at once that the stream is open.
  http.flushHeaders();
  const history = deps.logs.history({ machineIds: [...ids], app: only ? undefined : name, matches }, q.limit).map(own);
  const remote = peers ? await collect(await peers.logStreams(name, new URLSearchParams([...params, ['limit', String(q.limit)]]), stop.signal)) : [];
  const merged = q.limit === 0 ? [] : [...history, ...remote].sort((a, b) => a.timestamp.localeCompare(b.timestamp)).slice(-q.limit);
  const written = new Set<string>();
  for (const l of merged) {
    const text = JSON.stringify(l);
    written.add(text);
    http.write(text + '\n');
  }
  if (q.follow !== 'true') {
    stop.abort();
    http.end();
    return;
  }
  for (const text of held.splice(0)) if (!written.has(text)) http.write(text + '\n');
  live = true;
  const keepAlive = setInterval(() => http.write('\n'), 15_000);
  http.on('close', () => {
    off();
    clearInterval(keepAlive);
  });
}

/** Reads finished NDJSON streams to their end. */
async function collect(streams: Readable[]): Promise<LogLine[]> {
  const all = await Promise.all(
    streams.map(async (s) => {
      const got: LogLine[] = [];
      try {
        for await (const line of createInterface({ input: s })) if (line.trim()) got.push(JSON.parse(line) as LogLine);
      } catch {
        // A node that fails mid-stream gives what it sent.
      }
      return got;
    }),
  );
  return all.flat();
}

