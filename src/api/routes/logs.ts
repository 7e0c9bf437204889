import type { LogLine } from '../contract.js';
import { AppParams, LogsQuery } from '../contract.js';
import type { Api, ApiDeps } from '../server.js';

/** NDJSON log stream: history first, then (with follow=true) new lines as machines write them. */
export function logRoutes(app: Api, deps: ApiDeps): void {
  app.get('/v1/apps/:app/logs', { schema: { tags: ['logs'], summary: 'App logs as NDJSON', params: AppParams, querystring: LogsQuery } }, async (req, reply) => {
    const machines = await deps.machines.list(req.params.app, { includeDestroyed: true });
    const q = req.query;
    const wanted = machines.filter((m) => (!q.machine || m.id === q.machine || m.name === q.machine) && (!q.region || m.region === q.region));
    const ids = new Set(wanted.map((m) => m.id));
    if (!q.machine && !q.region) for (const id of deps.logs.machinesOf(req.params.app)) ids.add(id);
    const matches = (l: LogLine) => l.app === req.params.app && (!q.machine || ids.has(l.machine_id)) && (!q.region || l.region === q.region);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    for (const l of deps.logs.history([...ids], q.limit)) res.write(JSON.stringify(l) + '\n');
    if (q.follow !== 'true') {
      res.end();
      return;
    }
    const off = deps.logs.onLine((l) => {
      if (matches(l)) res.write(JSON.stringify(l) + '\n');
    });
    const keepAlive = setInterval(() => res.write('\n'), 15_000);
    res.on('close', () => {
      off();
      clearInterval(keepAlive);
    });
  });
}
