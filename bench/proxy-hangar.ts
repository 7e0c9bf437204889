/**
 * The real hangar side of bench:proxy: a daemon on ephemeral loopback ports with a temp HANGAR_HOME,
 * app `bench`, the echo fixture uploaded as an image and ONE machine running it. The machine's address
 * is the upstream every target shares; the daemon's proxy is target (b). Its TLS listener serves the
 * bench certificate once `enableTls` has imported it.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../src/images/stream.js';
import { servesEcho, type Target } from './proxy-http.js';
import { isRunning, signalGroup, tail, waitUntil, type Reaper } from './proxy-procs.js';
import { TLS_HOST, tlsClient, tlsUrl, type BenchCert } from './proxy-tls.js';

/** Repository root (the bench runs from dist/bench/). */
const ROOT = resolve(new URL('.', import.meta.url).pathname, existsSync(new URL('../../package.json', import.meta.url)) ? '../..' : '..');
export const APP = 'bench';
export const APP_HOST = `${APP}.localhost`;

export interface HangarSetup {
  daemon: ChildProcess;
  home: string;
  proxyUrl: string;
  /** Port of the proxy's TLS listener (127.0.0.1). */
  proxyTlsPort: number;
  /** Proxy worker processes the daemon was started with (0 = the proxy runs in the daemon). */
  workers: number;
  api: Api;
  machineId: string;
  /** host:port of the machine: the direct upstream. */
  address: string;
  /** The machine's process group (its wrapper shell and node). */
  machinePgid: number;
  /** Destroys the machine through the API, then stops the daemon (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

/** A call to the daemon's API with the bench's token; resolves with the parsed JSON body. */
export type Api = (method: string, path: string, body?: unknown) => Promise<any>;

/**
 * Starts the daemon (with `workers` proxy worker processes) and the echo machine; everything it
 * creates is registered with `reaper` first.
 */
export async function startHangar(reaper: Reaper, workers: number): Promise<HangarSetup> {
  const home = reaper.tempDir('hangar-bench-proxy-');
  reaper.onSweep(() => killMachineGroups(home));
  const log = join(home, 'daemon.out');
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home };
  delete env.HANGAR_API_URL;
  delete env.HANGAR_API_TOKEN;
  const daemon = reaper.spawn({ cmd: process.execPath, args: [join(ROOT, 'bin', 'hangar.js'), 'server', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0', '--proxy-tls-listen', '127.0.0.1:0', '--proxy-workers', String(workers)], log, env });
  const info = await waitUntil(() => readInfo(home, daemon, log), 20_000, 'the hangar daemon to write daemon.json');
  if (!info.proxy_tls) throw new Error(`the daemon names no TLS listener in daemon.json:\n${tail(log)}`);
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const api = apiClient(info.api, token);
  await api('POST', '/v1/apps', { app_name: APP });
  const image = await uploadImage(info.api, token, join(ROOT, 'test', 'fixtures', 'echo-app'));
  const created = await api('POST', `/v1/apps/${APP}/machines`, { config: { image, init: { cmd: ['node', 'server.js'] }, services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }] } });
  const machineId = created.id as string;
  const ready = waitReady(api, { home, machineId, proxyUrl: info.proxy });
  const m = await ready.catch(async (err: Error) => {
    throw new Error(`${err.message} (${await diagnose(api, home, machineId)})`);
  });
  const machinePgid = readMachinePid(home, machineId, m.instance_id);
  const stop = async () => {
    await api('DELETE', `/v1/apps/${APP}/machines/${machineId}?force=true`).catch((err) => console.error(`bench:proxy: destroying the machine failed: ${err.message}`));
    await reaper.stop(daemon, 5000);
    killMachineGroups(home);
  };
  const proxyTlsPort = Number(new URL(info.proxy_tls).port);
  return { daemon, home, proxyUrl: info.proxy, proxyTlsPort, workers, api, machineId, address: m.address, machinePgid, stop };
}

/**
 * Imports the bench certificate for `bench.test` of the app (which also routes that hostname to it) and
 * waits until the proxy's TLS listener, in every worker, serves the echo machine by that name.
 */
export async function enableTls(h: HangarSetup, cert: BenchCert): Promise<Target> {
  await h.api('POST', `/v1/apps/${APP}/certificates/${TLS_HOST}/import`, { certificate: cert.certPem, private_key: cert.keyPem });
  const target: Target = { name: 'hangar-tls', url: tlsUrl(h.proxyTlsPort), tls: tlsClient(cert), proxyPgid: h.daemon.pid };
  // Each probe is a new connection, so a worker that has not got the certificate yet fails some of them.
  let inARow = 0;
  await waitUntil(async () => ((inARow = (await servesEcho(target, h.machineId)) ? inARow + 1 : 0) >= 5 ? true : undefined), 15_000, `the hangar proxy to serve ${TLS_HOST} over TLS`);
  return target;
}

/** Until the machine has an address and both it and the hangar proxy serve the echo answer. */
async function waitReady(api: Api, o: { home: string; machineId: string; proxyUrl: string }): Promise<{ address: string; instance_id: string }> {
  const m = await waitUntil(async () => {
    const v = await api('GET', `/v1/apps/${APP}/machines/${o.machineId}`);
    return v.address ? (v as { address: string; instance_id: string }) : undefined;
  }, 30_000, `machine ${o.machineId} to show an address`);
  await waitUntil(async () => ((await servesEcho({ url: `http://${m.address}/` }, o.machineId)) ? true : undefined), 15_000, 'the echo machine to answer directly');
  await waitUntil(async () => ((await servesEcho({ url: `${o.proxyUrl}/`, host: APP_HOST }, o.machineId)) ? true : undefined), 15_000, `the hangar proxy to answer Host: ${APP_HOST}`);
  return m;
}

/** The machine's state, latest events and stderr tail, for an error message. */
async function diagnose(api: Api, home: string, machineId: string): Promise<string> {
  const v = await api('GET', `/v1/apps/${APP}/machines/${machineId}`).catch(() => undefined);
  const events = ((v?.events ?? []) as Array<{ type: string; status: string; message?: string }>).slice(0, 3).map((e) => `${e.type}/${e.status}${e.message ? `: ${e.message}` : ''}`);
  const stderr = tail(join(home, 'machines', machineId, 'stderr.log'), 3).replace(/\s+/g, ' ');
  return `machine state ${v?.state ?? 'unknown'}; latest events: ${events.join(' | ') || 'none'}; machine stderr: ${stderr}`;
}

function readInfo(home: string, daemon: ChildProcess, log: string): { api: string; proxy: string; proxy_tls?: string } | undefined {
  if (!isRunning(daemon)) throw new Error(`the hangar daemon exited (${daemon.exitCode ?? daemon.signalCode}):\n${tail(log)}`);
  const f = join(home, 'daemon.json');
  if (!existsSync(f)) return undefined;
  try {
    const i = JSON.parse(readFileSync(f, 'utf8'));
    return i.pid === daemon.pid ? i : undefined;
  } catch {
    return undefined; // half-written
  }
}

function apiClient(base: string, token: string): Api {
  return async (method, path, body) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
}

async function uploadImage(base: string, token: string, dir: string): Promise<string> {
  const packed = packDirectory(dir);
  const res = await fetch(`${base}/v1/apps/${APP}/images?tag=bench`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': SNAPSHOT_CONTENT_TYPE },
    body: Readable.toWeb(packed.stream) as unknown as RequestInit['body'],
    duplex: 'half',
  } as RequestInit);
  const body = (await res.json()) as { ref: string };
  if (res.status !== 201) throw new Error(`image upload failed: ${res.status} ${JSON.stringify(body)}`);
  return body.ref;
}

/** The machine's wrapper pid, which leads its process group (the process runtime spawns it detached). */
function readMachinePid(home: string, machineId: string, instanceId: string): number {
  const dir = join(home, 'machines', machineId, instanceId);
  const info = JSON.parse(readFileSync(join(dir, 'instance.json'), 'utf8')) as { pid: number };
  if (info.pid > 0) return info.pid;
  return Number(readFileSync(join(dir, 'pid'), 'utf8').trim());
}

/** Kills every machine process group recorded under HANGAR_HOME, by the pids in its instance files. */
function killMachineGroups(home: string): void {
  const root = join(home, 'machines');
  if (!existsSync(root)) return;
  for (const m of readdirSync(root)) {
    let instances: string[] = [];
    try {
      instances = readdirSync(join(root, m));
    } catch {
      continue;
    }
    for (const i of instances) {
      for (const f of ['instance.json', 'pid']) {
        try {
          const text = readFileSync(join(root, m, i, f), 'utf8');
          const pid = f === 'pid' ? Number(text.trim()) : (JSON.parse(text) as { pid: number }).pid;
          if (pid > 0) signalGroup(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
    }
  }
}
