/**
 * The peer proxies bench:proxy compares hangar with: nginx, haproxy and caddy, each a foreground
 * process with its own temp config, listening on 127.0.0.1 only and keeping connections to the one
 * upstream alive (as hangar's proxy does). Given the bench certificate, a peer terminates TLS instead
 * (its TLS lines come from proxy-tls.ts) and still speaks plain HTTP/1.1 to the upstream. A peer that
 * will not start is skipped with its log tail.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { servesEcho, type PeerName, type Target } from './proxy-http.js';
import { isRunning, tail, waitUntil, type Reaper } from './proxy-procs.js';
import { caddySite, haproxyBind, nginxListen, tlsClient, tlsUrl, type BenchCert } from './proxy-tls.js';

/** How the peers are set up, printed with the results so the comparison can be judged. */
export const PEER_NOTES =
  'nginx worker_processes auto, upstream keepalive 64, access_log off; haproxy default threads, http-reuse always; caddy reverse_proxy defaults, admin off; each keeps upstream connections alive';

interface PeerLaunch {
  config: { file: string; text: string };
  args: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * How each peer is configured and started, given its temp dir, its port, the upstream host:port and,
 * for HTTPS, the certificate.
 */
const LAUNCH: Record<PeerName, (dir: string, port: number, upstream: string, cert?: BenchCert) => PeerLaunch> = {
  nginx: (dir, port, upstream, cert) => ({
    config: { file: join(dir, 'nginx.conf'), text: nginxConf(dir, nginxListen(port, cert), upstream) },
    args: ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'],
  }),
  haproxy: (dir, port, upstream, cert) => ({
    config: { file: join(dir, 'haproxy.cfg'), text: haproxyConf(haproxyBind(port, cert), upstream) },
    args: ['-db', '-f', join(dir, 'haproxy.cfg')],
  }),
  caddy: (dir, port, upstream, cert) => ({
    config: { file: join(dir, 'Caddyfile'), text: caddyfile(caddySite(port, cert), upstream) },
    args: ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'],
    env: { ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_DATA_HOME: join(dir, 'data') },
  }),
};

function nginxConf(dir: string, listen: string, upstream: string): string {
  return `worker_processes auto;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'tmp', 'body')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  upstream echo {
    server ${upstream};
    keepalive 64;
    # below the echo app's (Node's) 5 s keep-alive timeout, so nginx never reuses a socket being closed
    keepalive_timeout 4s;
  }
  server {
    ${listen}
    location / {
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

function haproxyConf(bind: string, upstream: string): string {
  return `global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 4s
frontend bench
  ${bind}
  default_backend echo
backend echo
  http-reuse always
  server echo1 ${upstream}
`;
}

function caddyfile(site: { address: string; tls: string }, upstream: string): string {
  return `{
  admin off
  auto_https off
}
${site.address} {
  bind 127.0.0.1${site.tls}
  reverse_proxy ${upstream}
}
`;
}

export type PeerStart = { ok: true; target: Target; child: ChildProcess } | { ok: false; reason: string };

/**
 * Starts one peer in front of `upstream` (terminating TLS with `cert` when given: target `<name>-tls`)
 * and waits until it serves the echo machine.
 */
export async function startPeer(reaper: Reaper, opts: { name: PeerName; bin: string; upstream: string; machineId: string; cert?: BenchCert }): Promise<PeerStart> {
  const dir = reaper.tempDir(`hangar-bench-${opts.name}-`);
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  const launch = LAUNCH[opts.name](dir, port, opts.upstream, opts.cert);
  writeFileSync(launch.config.file, launch.config.text);
  const log = join(dir, 'output.log');
  const child = reaper.spawn({ cmd: opts.bin, args: launch.args, log, env: launch.env, cwd: dir });
  const target: Target = opts.cert
    ? { name: `${opts.name}-tls`, url: tlsUrl(port), tls: tlsClient(opts.cert), proxyPgid: child.pid }
    : { name: opts.name, url: `http://127.0.0.1:${port}/`, proxyPgid: child.pid };
  return whenServing(reaper, { child, target, machineId: opts.machineId, log, more: () => (opts.name === 'nginx' ? `\n${tail(join(dir, 'error.log'), 5)}` : '') });
}

/**
 * Waits until a started proxy serves the echo machine as `target`; one that does not is stopped, and
 * the answer says why, with the end of its log (and `more`).
 */
export async function whenServing(reaper: Reaper, s: { child: ChildProcess; target: Target; machineId: string; log: string; more?: () => string }): Promise<PeerStart> {
  try {
    await waitUntil(async () => {
      if (!isRunning(s.child)) throw new Error(`${s.target.name} exited (${s.child.exitCode ?? s.child.signalCode})`);
      return (await servesEcho(s.target, s.machineId)) ? true : undefined;
    }, 10_000, `${s.target.name} to serve the echo machine`);
    return { ok: true, target: s.target, child: s.child };
  } catch (err) {
    await reaper.stop(s.child);
    return { ok: false, reason: `${(err as Error).message}: ${tail(s.log, 5)}${s.more?.() ?? ''}`.replace(/\s+/g, ' ') };
  }
}

/** A loopback port that was free a moment ago (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
