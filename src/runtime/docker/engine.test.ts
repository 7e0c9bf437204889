import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserError } from '../../core/errors.js';
import { DockerDriver } from './docker-driver.js';
import { EngineClient, engineEndpoint } from './engine.js';
import { FrameDemuxer } from './frames.js';
import { sinceParam } from './log-follower.js';
import { tar } from './tar.js';

test('DOCKER_HOST: unset, unix:// and tcp://127.0.0.1 are accepted; anything else is refused with its value', () => {
  assert.deepEqual(engineEndpoint(undefined), { kind: 'unix', socketPath: '/var/run/docker.sock' });
  assert.deepEqual(engineEndpoint('unix:///run/user/1000/docker.sock'), { kind: 'unix', socketPath: '/run/user/1000/docker.sock' });
  assert.deepEqual(engineEndpoint('tcp://127.0.0.1:2375'), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
  for (const bad of ['tcp://10.0.0.5:2375', 'ssh://me@host', 'tcp://127.0.0.1', '/var/run/docker.sock']) {
    assert.throws(() => engineEndpoint(bad), (e: unknown) => e instanceof UserError && e.code === 'docker_host_unsupported' && e.details[0]?.value === bad);
  }
});

test('no engine at the socket: a docker_unavailable UserError naming the socket, with a hint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-nodocker-'));
  try {
    const engine = new EngineClient({ kind: 'unix', socketPath: join(dir, 'docker.sock') });
    assert.equal(await engine.ping(), false);
    const d = new DockerDriver({ root: dir, engine });
    await assert.rejects(d.status({ machineId: 'm', instanceId: 'i' }), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'docker_unavailable');
      assert.match(e.message, /docker\.sock/);
      assert.match(e.hint ?? '', /dockerd --bridge=none/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an engine that does not answer in time, or cuts the connection, is docker_unavailable too', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-mute-'));
  const sockets = new Set<Socket>();
  // Every second connection is cut at once; the others are held open without an answer.
  let n = 0;
  const server = createServer((s) => {
    sockets.add(s);
    if (n++ % 2 === 1) s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(join(dir, 'docker.sock'), resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });
  const engine = new EngineClient({ kind: 'unix', socketPath: join(dir, 'docker.sock') });
  const unavailable = (why: RegExp) => (e: unknown) => e instanceof UserError && e.code === 'docker_unavailable' && e.kind === 'unavailable' && why.test(e.message);
  await assert.rejects(engine.text('GET', '/images/x/json', { timeoutMs: 50 }), unavailable(/no answer to GET \/images\/x\/json within 50 ms/));
  await assert.rejects(engine.text('GET', '/images/x/json', { timeoutMs: 5000 }), unavailable(/ECONNRESET|EPIPE/));
});

test('the demuxer splits stdout/stderr frames across arbitrary chunk boundaries', () => {
  const frame = (type: number, s: string) => {
    const h = Buffer.alloc(8);
    h[0] = type;
    h.writeUInt32BE(Buffer.byteLength(s), 4);
    return Buffer.concat([h, Buffer.from(s)]);
  };
  const all = Buffer.concat([frame(1, 'out one\n'), frame(2, 'err\n'), frame(1, ''), frame(1, 'out two\n')]);
  for (let cut = 1; cut < all.length; cut++) {
    const d = new FrameDemuxer();
    const frames = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.deepEqual(
      frames.map((f) => `${f.stream}:${f.data.toString()}`),
      ['stdout:out one\n', 'stderr:err\n', 'stdout:', 'stdout:out two\n'],
    );
  }
});

test('since keeps the nanoseconds of the engine timestamp', () => {
  assert.equal(sinceParam('2026-01-02T03:04:05.123456789Z'), `${Date.UTC(2026, 0, 2, 3, 4, 5) / 1000}.123456789`);
});

test('tar writes ustar headers with valid checksums, padded to 512-byte blocks', () => {
  const out = tar([
    { type: 'file', name: 'Dockerfile', data: Buffer.from('FROM scratch\n') },
    { type: 'symlink', name: 'bin/sh', target: 'busybox' },
  ]);
  assert.equal(out.length, 512 + 512 + 512 + 1024);
  const h = out.subarray(0, 512);
  assert.equal(h.subarray(257, 263).toString('latin1'), 'ustar\0');
  assert.equal(parseInt(h.subarray(124, 135).toString(), 8), 13);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  assert.equal(parseInt(h.subarray(148, 154).toString(), 8), sum);
  const link = out.subarray(1024, 1536);
  assert.equal(link.toString('latin1', 156, 157), '2');
  assert.equal(link.toString('latin1', 157, 164), 'busybox');
});
