import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineClient } from '../src/runtime/docker/engine.js';
import { clusterSupport, startCluster, type ClusterNode } from './cluster/cluster.js';
import type { Network, NetworkHost } from './cluster/netns.js';
import { DOCKER_WORKER_TOML, dockerAppDir } from './fixtures/docker/app.js';
import { inGroup, waitUntil } from './helpers.js';

const support = clusterSupport();
const dockerd = spawnSync('sh', ['-c', 'command -v dockerd && command -v nsenter && test -x /bin/busybox']).status === 0;
const skip = !support.ok ? support.reason : !dockerd ? 'needs dockerd, nsenter and busybox-static' : false;

/**
 * A Docker Engine of the host's own, inside its network namespace (entered with nsenter, which leaves
 * /sys and its cgroups as they are), so containers with host networking listen on that host's loopback.
 */
async function engineFor(t: { after(fn: () => unknown): void }, net: Network, host: NetworkHost): Promise<{ socket: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `hangar-dockerd-${host.name}-`));
  const socket = join(dir, 'docker.sock');
  const p = spawn('nsenter', [`--net=/run/netns/${host.ns}`, 'dockerd', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '-H', `unix://${socket}`, '--pidfile', join(dir, 'docker.pid'), '--bridge=none', '--iptables=false', '--ip6tables=false'], { stdio: 'ignore' });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    // A killed engine may leave its overlay mounts behind; they go before the directory does.
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n').reverse()) {
      const at = line.split(' ')[1];
      if (at?.startsWith(dir)) spawnSync('umount', ['-l', at]);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  const engine = new EngineClient({ kind: 'unix', socketPath: socket });
  await waitUntil(() => engine.ping(500), 30_000, `${host.name}'s Docker Engine`);
  void net;
  return { socket, stop };
}

test("a Docker image built on one host's engine reaches another host's engine (save → load) and runs there", { skip, timeout: 300_000 }, async (t) => {
  const engines = new Map<string, { socket: string; stop: () => Promise<void> }>();
  const c = await startCluster(t, [{ name: 'e-1', region: 'ams' }, { name: 'e-2', region: 'ams' }], {
    nodeEnv: async (net, h) => {
      const e = await engineFor(t, net, h);
      engines.set(h.name, e);
      return { DOCKER_HOST: `unix://${e.socket}` };
    },
  });
  try {
    const [e1, e2] = c.nodes as [ClusterNode, ClusterNode];
    const dir = dockerAppDir(t, DOCKER_WORKER_TOML('dk'));
    const first = await e1.cli(['deploy', dir]);
    assert.equal(first.status, 0, first.stderr + first.stdout);
    const scaled = await e1.cli(['scale', 'count', '2', '--process-group', 'web', '-a', 'dk']);
    assert.equal(scaled.status, 0, scaled.stderr + scaled.stdout);
    type M = { id: string; host: string; process_group: string; runtime: string; state: string; image_ref: { digest: string } };
    const web = inGroup((await e1.api<M[]>('GET', '/v1/apps/dk/machines')).body, 'web');
    const there = web.find((m) => m.host === 'e-2');
    assert.ok(there, `a web machine on e-2: ${JSON.stringify(web.map((m) => m.host))}`);
    assert.equal(there.runtime, 'docker');
    assert.equal(there.state, 'started');
    // The image e-1's engine built is now on e-2's engine, with the same id.
    const onE2 = new EngineClient({ kind: 'unix', socketPath: engines.get('e-2')!.socket });
    const img = await onE2.json<{ Id: string }>('GET', `/images/${encodeURIComponent(there.image_ref.digest)}/json`);
    assert.equal(img.Id, there.image_ref.digest);
    // And it serves: e-2's proxy prefers its own host's machine.
    await waitUntil(async () => (await e2.get('dk')).machine === there.id, 10_000, "e-2's container to take traffic");
    assert.equal((await e1.get('dk')).status, 200);
    // Stopped before the engines go, so no container is left running.
    for (const m of (await e1.api<M[]>('GET', '/v1/apps/dk/machines')).body) await e1.api('DELETE', `/v1/apps/dk/machines/${m.id}?force=true`);
  } finally {
    for (const n of c.nodes) await n.stop();
    for (const e of engines.values()) await e.stop();
  }
  assert.ok(![...engines.values()].some((e) => existsSync(e.socket)));
});
