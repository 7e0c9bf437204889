/**
 * Pebble, Let's Encrypt's test ACME server, for tests (Debian's `pebble` package: binaries `pebble`
 * and `pebble-challtestsrv`). Each start gets its own temp directory (config, its HTTPS certificate,
 * logs) and free loopback ports. pebble-challtestsrv is only the DNS server, answering 127.0.0.1 for
 * every name (no AAAA, its challenge listeners off), so Pebble validates HTTP-01 against the test's own
 * server on `httpPort`. Both processes are killed by pid and the directory removed after the test,
 * even when it fails.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface PebbleTestContext {
  after(fn: () => unknown): void;
}

export interface Pebble {
  /** The ACME directory, over HTTPS signed by `caFile`. */
  directoryUrl: string;
  /** PEM of the (self-signed) certificate Pebble's own HTTPS uses: what `--acme-ca-file` trusts. */
  caFile: string;
  /** The root that Pebble's issued certificates chain to (from its management API; new every start). */
  root(): Promise<string>;
  /** What both processes printed, for a failing test's diagnostics. */
  output(): string;
}

const START_TIMEOUT_MS = 15_000;

function onPath(bin: string): string | undefined {
  return (process.env.PATH ?? '').split(delimiter).map((d) => join(d, bin)).find((p) => existsSync(p));
}

/** Whether Pebble can run here; the test skips with the reason when not. */
export function pebbleAvailable(): { ok: true } | { ok: false; reason: string } {
  const missing = ['pebble', 'pebble-challtestsrv', 'openssl'].filter((b) => !onPath(b));
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `${missing.join(' and ')} not installed (apt-get install pebble openssl)` };
}

/** A loopback port that was free a moment ago, for TCP (and UDP too, when `udp`). */
export async function freePort(udp = false): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    if (!udp) return port;
    const free = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { ca, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts pebble-challtestsrv and pebble; resolves once both answer. `httpPort`: where HTTP-01 is validated. */
export async function startPebble(t: PebbleTestContext, opts: { httpPort: number }): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-pebble-'));
  const procs: ChildProcess[] = [];
  let output = '';
  t.after(async () => {
    for (const p of procs) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  });
  const caFile = join(dir, 'pebble-https.pem');
  const keyFile = join(dir, 'pebble-https.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=pebble test HTTPS', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const [dns, dnsMgmt, acmePort, mgmt, tlsPort] = [await freePort(true), await freePort(), await freePort(), await freePort(), await freePort()];
  const config = { pebble: { listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmt}`, certificate: caFile, privateKey: keyFile, httpPort: opts.httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: false } };
  const configFile = join(dir, 'pebble-config.json');
  writeFileSync(configFile, JSON.stringify(config));
  const run = (bin: string, args: string[], env: Record<string, string> = {}) => {
    const p = spawn(bin, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    p.stdout!.on('data', (d) => (output += `[${bin}] ${d}`));
    p.stderr!.on('data', (d) => (output += `[${bin}] ${d}`));
    p.on('exit', (code, signal) => (output += `[${bin}] exited (${code ?? signal})\n`));
    return p;
  };
  const challtest = run('pebble-challtestsrv', ['-defaultIPv4', '127.0.0.1', '-defaultIPv6', '', '-dns01', `127.0.0.1:${dns}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsMgmt}`]);
  await waitFor(() => get(`http://127.0.0.1:${dnsMgmt}/`).then(() => true), challtest, 'pebble-challtestsrv', () => output);
  // No random nonce rejections or validation sleeps, and every order needs its own challenge.
  const pebble = run('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dns}`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const ca = readFileSync(caFile, 'utf8');
  await waitFor(() => get(directoryUrl, ca).then((r) => r.status === 200), pebble, 'pebble', () => output);
  return {
    directoryUrl,
    caFile,
    root: async () => {
      const r = await get(`https://127.0.0.1:${mgmt}/roots/0`, ca);
      if (r.status !== 200) throw new Error(`pebble's /roots/0 answered ${r.status}`);
      return r.body;
    },
    output: () => output,
  };
}

/** Polls `ready` until it holds, failing at once if the process exits and after the deadline. */
async function waitFor(ready: () => Promise<boolean>, proc: ChildProcess, what: string, output: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`${what} exited while starting:\n${output()}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer within ${START_TIMEOUT_MS} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 3000);
    p.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    p.kill('SIGTERM');
  });
}
