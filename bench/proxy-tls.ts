/**
 * The HTTPS side of bench:proxy: one self-signed P-256 certificate for `bench.test`, made with openssl
 * in a temp dir, that hangar and every peer terminate TLS with; the TLS parts of the peers' configs;
 * and the wrk script that lets wrk send SNI `bench.test` without that name resolving anywhere.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TlsClient } from './proxy-http.js';
import type { Reaper } from './proxy-procs.js';

/** The hostname of the certificate: the SNI name and Host every HTTPS target is reached by. */
export const TLS_HOST = 'bench.test';

/** How the HTTPS runs are set up, printed with the results. */
export const TLS_NOTES =
  `one self-signed ECDSA P-256 certificate for ${TLS_HOST}, TLS terminated by each proxy with its default TLS settings; ` +
  `wrk (http/1.1, keep-alive, no ALPN) connects to 127.0.0.1 with SNI and Host ${TLS_HOST}; each proxy speaks plain HTTP/1.1 with keep-alive to the upstream`;

export interface BenchCert {
  certFile: string;
  keyFile: string;
  /** Certificate then key in one file, as haproxy's `crt` wants it. */
  bundleFile: string;
  certPem: string;
  keyPem: string;
}

/** Makes the certificate in a temp dir the reaper removes; throws with openssl's output if it fails. */
export function makeCert(reaper: Reaper, opensslBin = 'openssl'): BenchCert {
  const dir = reaper.tempDir('hangar-bench-tls-');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  args.push('-keyout', keyFile, '-out', certFile, '-subj', `/CN=${TLS_HOST}`, '-addext', `subjectAltName=DNS:${TLS_HOST}`);
  const r = spawnSync(opensslBin, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`openssl req failed (${r.error?.message ?? `exit ${r.status}`}): ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim()}`);
  const certPem = readFileSync(certFile, 'utf8');
  const keyPem = readFileSync(keyFile, 'utf8');
  const bundleFile = join(dir, 'bundle.pem');
  writeFileSync(bundleFile, certPem + keyPem);
  return { certFile, keyFile, bundleFile, certPem, keyPem };
}

/** How the bench's own clients reach an HTTPS target: at 127.0.0.1, by SNI, trusting only this certificate. */
export function tlsClient(cert: BenchCert): TlsClient {
  return { servername: TLS_HOST, ca: cert.certPem, address: '127.0.0.1' };
}

/** The URL wrk and the probes are given for an HTTPS listener on `port`. */
export const tlsUrl = (port: number) => `https://${TLS_HOST}:${port}/`;

/**
 * wrk sends the URL's host as SNI (a `-H Host:` header does not change it) and first resolves that
 * host itself, which `bench.test` does not. This script replaces wrk's resolver so the URL can name
 * `bench.test` while every connection goes to `address`. Defining no `request`/`response` functions
 * keeps wrk on its static-request path, as in the plain runs.
 */
export function wrkResolveScript(dir: string, address: string): string {
  const file = join(dir, `resolve-${address}.lua`);
  writeFileSync(file, `function wrk.resolve(host, service)\n  wrk.addrs = wrk.lookup(${JSON.stringify(address)}, service)\nend\n`);
  return file;
}

/** nginx's `listen` line(s) inside its server block. */
export function nginxListen(port: number, cert?: BenchCert): string {
  if (!cert) return `listen 127.0.0.1:${port};`;
  return `listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert.certFile};
    ssl_certificate_key ${cert.keyFile};`;
}

/** haproxy's frontend `bind` line. */
export function haproxyBind(port: number, cert?: BenchCert): string {
  return cert ? `bind 127.0.0.1:${port} ssl crt ${cert.bundleFile}` : `bind 127.0.0.1:${port}`;
}

/** Caddy's site address and the `tls` line that goes in it (none for plain HTTP). */
export function caddySite(port: number, cert?: BenchCert): { address: string; tls: string } {
  if (!cert) return { address: `:${port}`, tls: '' };
  return { address: `https://${TLS_HOST}:${port}`, tls: `\n  tls ${cert.certFile} ${cert.keyFile}` };
}
