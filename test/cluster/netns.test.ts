import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, get as httpGet } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { waitUntil } from '../helpers.js';
import { createNetwork, isRootWithNetns, pickFreeSubnet, type HostRef, type Network } from './netns.js';

// Prints its port once listening; answers every request with its tag.
const SERVER = `
const [host, tag] = process.argv.slice(1);
const server = require('node:http').createServer((req, res) => res.end(tag));
server.listen(0, host, () => console.log(server.address().port));
`;

// One GET with a deadline; prints {ok, status, body} or {ok: false, code}. Exits at once: an aborted
// connect to an unreachable address would otherwise keep the process alive until its own timeout.
const CLIENT = `
const [url, ms] = process.argv.slice(1);
fetch(url, { signal: AbortSignal.timeout(Number(ms)) })
  .then(
    async (r) => ({ ok: true, status: r.status, body: await r.text() }),
    (e) => ({ ok: false, code: e.cause?.code ?? e.name }),
  )
  .then((result) => process.stdout.write(JSON.stringify(result), () => process.exit(0)));
`;

type FetchResult = { ok: true; status: number; body: string } | { ok: false; code: string };

async function startServer(net: Network, host: HostRef, bind: string, tag: string): Promise<{ proc: ChildProcess; port: number }> {
  const proc = net.spawn(host, process.execPath, ['-e', SERVER, bind, tag], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  await waitUntil(() => /^\d+\n/.test(out) || proc.exitCode !== null, 10_000, `server ${tag} to listen`);
  assert.equal(proc.exitCode, null, `server ${tag} exited`);
  return { proc, port: Number(out.trim()) };
}

async function fetchFrom(net: Network, host: HostRef, url: string, ms = 2000): Promise<FetchResult> {
  const r = await net.exec(host, process.execPath, ['-e', CLIENT, url, String(ms)], { timeoutMs: ms + 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as FetchResult;
}

/** The same GET from this process. node:http, not fetch: aborting fetch leaves its connect attempt running. */
function fetchHere(url: string, ms = 2000): Promise<FetchResult> {
  return new Promise((resolve) => {
    const req = httpGet(url, { agent: false, signal: AbortSignal.timeout(ms) }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ ok: true, status: res.statusCode!, body }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, code: e.name === 'AbortError' ? 'TimeoutError' : (e.code ?? e.name) }));
  });
}

/** Namespace names and root-namespace links starting with `prefix`. */
function leftovers(prefix: string): string[] {
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n');
  const links = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(/:\s+/)[1] ?? '');
  return [...ns, ...links].filter((name) => name.startsWith(prefix));
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const UNREACHABLE = new Set(['TimeoutError', 'EHOSTUNREACH', 'ENETUNREACH']);

test('pickFreeSubnet avoids every occupied network and stays in 10.200–10.250', () => {
  const seq = [0, 7, 0, 7, 0, 8];
  const random = () => seq.shift()!;
  assert.equal(pickFreeSubnet(['10.200.7.0/24'], random), '10.200.8.0/24');
  assert.equal(pickFreeSubnet(['10.0.0.0/8'], () => 0), undefined);
  assert.equal(pickFreeSubnet(['10.200.7.9'], (n) => (n === 51 ? 0 : 7)), undefined);
  for (let i = 0; i < 200; i++) {
    const [a, b, c, d] = pickFreeSubnet(['192.0.2.2/24', '127.0.0.1/8'])!.replace('/24', '').split('.').map(Number);
    assert.ok(a === 10 && b! >= 200 && b! <= 250 && c! >= 0 && c! <= 255 && d === 0);
  }
});

const support = isRootWithNetns();

describe('network namespaces', { skip: support.ok ? false : support.reason }, () => {
  test('three hosts: reachability, own loopbacks, isolate/reconnect, and nothing left after destroy', async (t) => {
    let started = performance.now();
    const net = await createNetwork(t, { hosts: 3 });
    t.diagnostic(`createNetwork(3 hosts): ${(performance.now() - started).toFixed(0)} ms, subnet ${net.subnet}`);
    const base = net.gateway.slice(0, -2);
    assert.match(net.gateway, /^10\.(2[0-4]\d|250)\.\d{1,3}\.1$/);
    assert.equal(net.subnet, `${base}.0/24`);
    assert.deepEqual(
      net.hosts.map((h) => [h.name, h.address]),
      [0, 1, 2].map((i) => [`host${i}`, `${base}.${10 + i}`]),
    );

    const onEth0 = await startServer(net, 0, net.hosts[0]!.address, 'host0-eth0');
    const onLo = await startServer(net, 0, '127.0.0.1', 'host0-lo');
    const sleeper = net.spawn(2, process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const gateway = createServer((req, res) => res.end('gateway'));
    gateway.listen(0, net.gateway);
    await once(gateway, 'listening');
    t.after(() => gateway.close());
    const host0Url = `http://${net.hosts[0]!.address}:${onEth0.port}/`;
    const loUrl = `http://127.0.0.1:${onLo.port}/`;
    const gatewayUrl = `http://${net.gateway}:${(gateway.address() as AddressInfo).port}/`;

    // The spawned child is the program itself, not a wrapper around it.
    assert.equal(readFileSync(`/proc/${onEth0.proc.pid}/comm`, 'utf8').trim(), 'node');

    assert.deepEqual(await fetchFrom(net, 1, host0Url), { ok: true, status: 200, body: 'host0-eth0' });
    assert.deepEqual(await fetchHere(host0Url), { ok: true, status: 200, body: 'host0-eth0' });
    assert.deepEqual(await fetchFrom(net, 0, loUrl), { ok: true, status: 200, body: 'host0-lo' });
    assert.deepEqual(await fetchFrom(net, 1, loUrl), { ok: false, code: 'ECONNREFUSED' });
    assert.notDeepEqual(await fetchHere(loUrl, 500), { ok: true, status: 200, body: 'host0-lo' });
    assert.deepEqual(await fetchFrom(net, 0, gatewayUrl), { ok: true, status: 200, body: 'gateway' });

    net.isolate('host0');
    const cut = await fetchFrom(net, 1, host0Url, 1000);
    assert.ok(!cut.ok && UNREACHABLE.has(cut.code), JSON.stringify(cut));
    const cutFromRoot = await fetchHere(host0Url, 1000);
    assert.ok(!cutFromRoot.ok && UNREACHABLE.has(cutFromRoot.code), JSON.stringify(cutFromRoot));
    const cutToGateway = await fetchFrom(net, 0, gatewayUrl, 1000);
    assert.ok(!cutToGateway.ok && UNREACHABLE.has(cutToGateway.code), JSON.stringify(cutToGateway));
    assert.deepEqual(await fetchFrom(net, 1, gatewayUrl), { ok: true, status: 200, body: 'gateway' }, 'only host0 is cut off');
    t.diagnostic(`isolated: host1→host0 ${cut.code}, root→host0 ${cutFromRoot.code}, host0→gateway ${cutToGateway.code}`);

    started = performance.now();
    net.reconnect(net.hosts[0]!);
    await waitUntil(async () => (await fetchFrom(net, 1, host0Url, 1000)).ok, 10_000, 'host0 to be reachable again');
    t.diagnostic(`reachable again ${(performance.now() - started).toFixed(0)} ms after reconnect`);

    const procs = [onEth0.proc, onLo.proc, sleeper];
    const pids = procs.map((p) => p.pid!);
    started = performance.now();
    await net.destroy();
    t.diagnostic(`destroy: ${(performance.now() - started).toFixed(0)} ms`);
    assert.deepEqual(leftovers(net.prefix), []);
    assert.ok(pids.every(isGone), `pids still alive: ${pids.filter((p) => !isGone(p))}`);
    assert.ok(procs.every((p) => p.signalCode === 'SIGKILL'));
    await net.destroy();
    assert.throws(() => net.spawn(0, 'true'), /destroyed/);
  });

  test('a test that fails after createNetwork still leaves nothing behind', async () => {
    const harness = new URL('./netns.js', import.meta.url).href;
    const script = `
      import { test } from 'node:test';
      import { createNetwork } from ${JSON.stringify(harness)};
      test('fails', async (t) => {
        const net = await createNetwork(t, { hosts: 2 });
        const child = net.spawn(1, process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
        console.log('NETWORK ' + JSON.stringify({ prefix: net.prefix, pid: child.pid }));
        throw new Error('deliberate failure');
      });`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, out);
    assert.match(out, /deliberate failure/);
    const m = /NETWORK (\{.*\})/.exec(out);
    assert.ok(m, out);
    const { prefix, pid } = JSON.parse(m[1]!) as { prefix: string; pid: number };
    assert.deepEqual(leftovers(prefix), []);
    assert.ok(isGone(pid), `pid ${pid} still alive`);
  });

  test('rejects bad host lists before building anything', async (t) => {
    await assert.rejects(createNetwork(t, { hosts: ['a', 'a'] }), /unique/);
    await assert.rejects(createNetwork(t, { hosts: 0 }), /between 1 and 244/);
    await assert.rejects(createNetwork(t, { hosts: 1.5 }), /between 1 and 244/);
  });
});
