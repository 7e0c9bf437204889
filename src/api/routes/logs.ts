import type { LogLine } from '../contract.js';
import { AppParams, LogLineView, LogsQuery } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';

/**
 * NDJSON log stream: history first, then (with follow=true) new lines as they are stored. `machine`
 * keeps only lines about that machine (app-wide deploy and proxy lines go); `region` keeps only lines
 * about machines in that region (app-wide lines carry none, so they go too); `source` keeps the listed
 * sources.
 */
export function logRoutes(app: Api, deps: ApiDeps): void {
  const raw = { mediaType: 'application/x-ndjson', schema: LogLineView, description: 'One log line (JSON) per line; with follow=true the stream stays open, with an empty line every 15s to keep it alive' };
  const schema = route({ tags: ['logs'], summary: 'App logs (machine output and platform lines) as NDJSON', params: AppParams, querystring: LogsQuery, raw });
  app.get('/v1/apps/:app/logs', { schema }, async (req, reply) => {
    const name = req.params.app;
    const q = req.query;
    const machines = await deps.machines.list(name, { includeDestroyed: true });
    const collected = deps.logs.machinesOf(name);
    // Release-command machines are not in state: the collector knows them by id.
    const only = q.machine ? new Set([...machines.filter((m) => m.id === q.machine || m.name === q.machine).map((m) => m.id), ...collected.filter((id) => id === q.machine)]) : undefined;
    const sources = q.source ? new Set(q.source.split(',')) : undefined;
    const matches = (l: LogLine) =>
      l.app === name && (!only || (l.machine_id !== undefined && only.has(l.machine_id))) && (!q.region || l.region === q.region) && (!sources || sources.has(l.source));
    const ids = only ?? new Set([...machines.map((m) => m.id), ...collected]);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    // A follower with nothing to read yet still learns at once that the stream is open.
    res.flushHeaders();
    for (const l of deps.logs.history({ machineIds: [...ids], app: only ? undefined : name, matches }, q.limit)) res.write(JSON.stringify(l) + '\n');
    if (q.follow !== 'true') {
      res.end();
      return;
    }
    const off = deps.logs.onStored((l) => {
      if (matches(l)) res.write(JSON.stringify(l) + '\n');
    });
    const keepAlive = setInterval(() => res.write('\n'), 15_000);
    res.on('close', () => {
      off();
      clearInterval(keepAlive);
    });
  });
}
