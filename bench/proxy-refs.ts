/**
 * Reference forwarders for the fixed-rate run: what a Node process in the path costs without hangar.
 * `node-http` is a node:http server handing each request to an undici Pool, the stack hangar's proxy is
 * built on with none of hangar's routing, metrics or headers; `node-pipe` copies bytes between each
 * client connection and an upstream connection of its own, with no HTTP parsing at all: the floor of
 * one Node process in the path. Each is one process, started as
 * `node dist/bench/proxy-refs.js node-http|node-pipe PORT UPSTREAM_HOST:PORT`.
 */
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import type { RateRefName, Target } from './proxy-http.js';
import { freePort, whenServing, type PeerStart } from './proxy-peers.js';
import type { Reaper } from './proxy-procs.js';

export type ForwarderKind = Exclude<RateRefName, 'hangar-1w'>;

/** Hop-by-hop response headers, which node:http sets for itself. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding']);

function nodeHttp(port: number, upstream: string): void {
  const pool = new Pool(`http://${upstream}`, { pipelining: 1, keepAliveTimeout: 4000 });
  const server = createHttpServer((req, res) => {
    pool.request({ path: req.url ?? '/', method: 'GET', headers: req.headers }).then(
      (r) => {
        const headers: Record<string, string | string[]> = {};
        for (const k in r.headers) if (!HOP.has(k)) headers[k] = r.headers[k]!;
        res.writeHead(r.statusCode, headers);
        r.body.pipe(res);
      },
      (err: Error) => {
        res.writeHead(502);
        res.end(err.message);
      },
    );
  });
  server.listen(port, '127.0.0.1');
}

function nodePipe(port: number, upstream: string): void {
  const [host, upPort] = [upstream.slice(0, upstream.lastIndexOf(':')), Number(upstream.slice(upstream.lastIndexOf(':') + 1))];
  const server = createTcpServer({ noDelay: true }, (client) => {
    const up = connect({ host, port: upPort, noDelay: true });
    client.pipe(up);
    up.pipe(client);
    client.on('error', () => up.destroy());
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
  });
  server.listen(port, '127.0.0.1');
}

/** Starts one reference forwarder in front of `upstream` and waits until it serves the echo machine. */
export async function startForwarder(reaper: Reaper, opts: { kind: ForwarderKind; upstream: string; machineId: string }): Promise<PeerStart> {
  const dir = reaper.tempDir(`hangar-bench-${opts.kind}-`);
  const port = await freePort();
  const log = join(dir, 'output.log');
  const child = reaper.spawn({ cmd: process.execPath, args: [fileURLToPath(import.meta.url), opts.kind, String(port), opts.upstream], log });
  const target: Target = { name: opts.kind, url: `http://127.0.0.1:${port}/`, proxyPgid: child.pid };
  return whenServing(reaper, { child, target, machineId: opts.machineId, log });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, port, upstream] = process.argv.slice(2);
  if (kind === 'node-http') nodeHttp(Number(port), upstream!);
  else if (kind === 'node-pipe') nodePipe(Number(port), upstream!);
  else {
    console.error(`proxy-refs: unknown forwarder ${JSON.stringify(kind)} (node-http or node-pipe)`);
    process.exitCode = 2;
  }
}
