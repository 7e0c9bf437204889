import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { appDir, startDaemon, waitUntil, WEB_TOML, type TestDaemon } from './helpers.js';
import { freePort, pebbleAvailable, startPebble } from './support/pebble.js';

const run = promisify(execFile);

/** A self-signed certificate for `names` (the first is the CN), in a temp dir removed at the end. */
function selfSigned(t: { after(fn: () => unknown): void }, names: string[], days = 2): { dir: string; cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const san = names.map((n) => `DNS:${n}`).join(',');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(days), '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, cert, key };
}

/**
 * A POST of `body` over HTTP/2 (TLS, ALPN h2) with Node's client: status and answer. curl 7.88 is not
 * used for this: when the answer ends before its upload does, it can stall for good after the server
 * has read the whole body and ended the stream (seen against a bare node:http2 server too).
 */
function h2Post(d: TestDaemon, host: string, path: string, ca: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://${host}:${tlsPort(d)}`, { ca: execFileSync('cat', [ca]), host: '127.0.0.1', servername: host });
    const fail = (err: Error) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('no complete answer within 10 s')), 10_000);
    session.on('error', fail);
    const req = session.request({ ':method': 'POST', ':path': path });
    let status = 0;
    let text = '';
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, body: text });
    });
    req.on('error', fail);
    req.end(body);
  });
}

const tlsPort = (d: TestDaemon) => Number(new URL(d.proxyTlsUrl).port);

/** curl over HTTPS to `host` on the daemon's TLS listener, trusting `ca`: status, HTTP version, body. */
async function curlTls(d: TestDaemon, host: string, path: string, ca: string, extra: string[] = []): Promise<{ status: number; version: string; body: string }> {
  const port = tlsPort(d);
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', '--cacert', ca, '--resolve', `${host}:${port}:127.0.0.1`, ...extra, '-w', '\n%{http_code} %{http_version}', `https://${host}:${port}${path}`]);
  const nl = stdout.lastIndexOf('\n');
  const [status, version] = stdout.slice(nl + 1).split(' ');
  return { status: Number(status), version: version!, body: stdout.slice(0, nl) };
}

/** A plain HTTP request through the proxy with a Host header (a POST when it has a body): status, Location, body. */
function plainGet(d: TestDaemon, host: string, path: string, body?: string): Promise<{ status: number; location?: string; body?: string }> {
  const u = new URL(d.proxyUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: body === undefined ? 'GET' : 'POST', headers: { host } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A TLS handshake with `servername` (none: no SNI): 'ok', or the error it ended with. */
function handshake(port: number, servername: string | undefined, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('ok');
    });
    s.once('error', (err) => resolve(err.message));
  });
}

test('HTTPS with an imported certificate: SNI, h2 and http/1.1 by ALPN, X-Forwarded-Proto, WebSocket over TLS, force_https, and handshakes without a known name refused', { timeout: 120_000 }, async (t) => {
  const d = await startDaemon(t);
  const dir = appDir(t, WEB_TOML('shop'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);
  const good = selfSigned(t, ['shop.test', 'www.shop.test']);
  const other = selfSigned(t, ['elsewhere.test']);

  // Refusals first: each one line with a hint, nothing stored.
  const mismatch = await d.cliAsync(['certs', 'import', 'shop.test', '--cert', good.cert, '--key', other.key, '-a', 'shop']);
  assert.equal(mismatch.status, 1);
  assert.match(mismatch.stderr, /key/i);
  const wrongHost = await d.cliAsync(['certs', 'import', 'shop.test', '--cert', other.cert, '--key', other.key, '-a', 'shop']);
  assert.equal(wrongHost.status, 1);
  assert.match(wrongHost.stderr, /elsewhere\.test/);
  assert.deepEqual(JSON.parse((await d.cliAsync(['certs', 'list', '-a', 'shop', '--json'])).stdout), []);

  const imported = await d.cliAsync(['certs', 'import', 'shop.test', '--cert', good.cert, '--key', good.key, '-a', 'shop']);
  assert.equal(imported.status, 0, imported.stderr);
  const shown = JSON.parse((await d.cliAsync(['certs', 'show', 'shop.test', '-a', 'shop', '--json'])).stdout);
  assert.equal(shown.status, 'issued');
  assert.equal(shown.source, 'imported');

  // The hostname routes to its app, over HTTP/2 by default and HTTP/1.1 when asked; the machine gets HTTP/1.1.
  await waitUntil(async () => (await curlTls(d, 'shop.test', '/', good.cert).catch(() => ({ status: 0 }))).status === 200, 10_000, 'HTTPS to answer');
  const h2 = await curlTls(d, 'shop.test', '/headers', good.cert, ['--http2']);
  assert.equal(h2.status, 200);
  assert.equal(h2.version, '2');
  const seen = JSON.parse(h2.body);
  assert.equal(seen.httpVersion, '1.1', 'the machine is spoken to in HTTP/1.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'https');
  assert.match(seen.headers.host, /^shop\.test:\d+$/);
  const h1 = await curlTls(d, 'shop.test', '/headers', good.cert, ['--http1.1']);
  assert.equal(h1.version, '1.1');
  assert.equal(JSON.parse(h1.body).headers['x-forwarded-proto'], 'https');
  // 2 MB the machine does not read: its answer comes first, and the rest of the body is dropped.
  const post = await h2Post(d, 'shop.test', '/', good.cert, Buffer.alloc(2_000_000, 120));
  assert.equal(post.status, 200, 'a request body over HTTP/2');
  assert.ok(post.body.length > 0, 'the answer arrives whole');

  // WebSocket over TLS (http/1.1): the upgrade reaches the machine and bytes flow both ways.
  const echoed = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: tlsPort(d), servername: 'shop.test', ca: execFileSync('cat', [good.cert]), ALPNProtocols: ['http/1.1'] }, () => {
      s.write('GET /ws HTTP/1.1\r\nHost: shop.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    });
    let got = '';
    s.on('data', (c) => {
      got += c.toString();
      if (got.includes('\r\n\r\n') && !got.includes('ping')) s.write('ping');
      if (got.includes('ping')) {
        s.destroy();
        resolve(got);
      }
    });
    s.once('error', reject);
    setTimeout(() => reject(new Error(`no echo: ${got}`)), 5000).unref();
  });
  assert.match(echoed, /^HTTP\/1\.1 101 /);

  // No SNI, or a name without a certificate: the handshake is refused.
  assert.notEqual(await handshake(tlsPort(d), undefined, good.cert), 'ok');
  assert.notEqual(await handshake(tlsPort(d), 'unknown.test', good.cert), 'ok');
  assert.equal(await handshake(tlsPort(d), 'shop.test', good.cert), 'ok');

  // force_https: plain HTTP gets a 301 to the same URL on the TLS listener.
  assert.equal((await d.api('PATCH', '/v1/apps/shop/routing', { force_https: true })).status, 200);
  const plain = await plainGet(d, 'shop.test', '/some/path?q=1');
  assert.equal(plain.status, 301);
  assert.equal(plain.location, `https://shop.test:${tlsPort(d)}/some/path?q=1`);
  assert.equal((await d.api('PATCH', '/v1/apps/shop/routing', { force_https: false })).status, 200);
  assert.equal((await plainGet(d, 'shop.test', '/')).status, 200);

  const removed = await d.cliAsync(['certs', 'remove', 'shop.test', '-a', 'shop']);
  assert.equal(removed.status, 0, removed.stderr);
  assert.notEqual(await handshake(tlsPort(d), 'shop.test', good.cert), 'ok', 'a removed certificate is served no more');
});

const pebble = pebbleAvailable();

test('certs add through the daemon: Pebble validates HTTP-01 against the proxy, the certificate is issued and served over HTTPS', { skip: pebble.ok ? false : pebble.reason, timeout: 120_000 }, async (t) => {
  const httpPort = await freePort();
  const ca = await startPebble(t, { httpPort });
  const d = await startDaemon(t, {
    args: ['--proxy-listen', `127.0.0.1:${httpPort}`, '--acme-directory', ca.directoryUrl, '--acme-ca-file', ca.caFile, '--acme-email', 'ops@shop.test'],
    env: { HANGAR_CERT_CHECK_INTERVAL: '200ms', HANGAR_CERT_RETRY_DELAYS: '300ms' },
  });
  const dir = appDir(t, WEB_TOML('store'));
  assert.equal((await d.cliAsync(['deploy', dir])).status, 0);

  const bad = await d.cliAsync(['certs', 'add', '1.2.3.4', '-a', 'store']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /IP address/i);

  const added = await d.cliAsync(['certs', 'add', 'store.test', '-a', 'store']);
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stdout, /store\.test/);
  type Cert = { status: string; issuer: string | null; not_after: string | null; last_error: string | null; dns_records: unknown[] };
  let cert: Cert | undefined;
  await waitUntil(
    async () => {
      cert = JSON.parse((await d.cliAsync(['certs', 'show', 'store.test', '-a', 'store', '--json'])).stdout) as Cert;
      return cert.status === 'issued';
    },
    60_000,
    'the certificate to be issued',
  ).catch((err) => {
    throw new Error(`${err.message}: ${JSON.stringify(cert)}\n${ca.output()}`);
  });
  assert.ok(cert!.not_after && Date.parse(cert!.not_after) > Date.now());
  assert.ok(cert!.dns_records.length > 0, 'the DNS record to create is shown');

  const root = join(mkdtempSync(join(tmpdir(), 'hangar-pebble-root-')), 'root.pem');
  t.after(() => rmSync(join(root, '..'), { recursive: true, force: true }));
  writeFileSync(root, await ca.root());
  const r = await curlTls(d, 'store.test', '/', root);
  assert.equal(r.status, 200);
  assert.match(r.body, /^v1 \(machine [0-9a-f]{14}\)\n$/);
  const logs = await d.cliAsync(['logs', '-a', 'store', '--no-tail']);
  assert.match(logs.stdout, /store\.test/, 'the certificate lines are in the app log');
});

test('h2_backend: the proxy speaks HTTP/2 without TLS (h2c) to a machine that speaks nothing else, request bodies included', { timeout: 60_000 }, async (t) => {
  const d = await startDaemon(t);
  const toml = `app = "h2"\n[env]\nH2C = "1"\n[processes]\nweb = "node server.js"\n[http_service]\ninternal_port = 8080\n  [http_service.http_options]\n  h2_backend = true\n`;
  const r = await d.cliAsync(['deploy', appDir(t, toml)]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stderr, /h2_backend/, 'h2_backend is not an ignored key');
  const got = await plainGet(d, 'h2.localhost', '/headers');
  assert.equal(got.status, 200);
  const seen = JSON.parse(got.body!);
  assert.equal(seen.httpVersion, '2.0', 'the machine was spoken to in HTTP/2');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  const big = await plainGet(d, 'h2.localhost', '/', 'x'.repeat(200_000));
  assert.equal(big.status, 200, 'a request body over h2c');
});
