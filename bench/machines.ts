/**
 * bench:machines — create, list, stop and destroy 300 machines of a tiny app across 30 apps through the
 * real daemon's API; prints p50/p99 latency per operation and the daemon's peak RSS, then one JSON line.
 * Create latency counts the API call with skip_launch (app boot is not the API's time); starting is
 * measured separately.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../src/images/stream.js';

const ROOT = resolve(new URL('.', import.meta.url).pathname, existsSync(new URL('../../package.json', import.meta.url)) ? '../..' : '..');
const APPS = Number(process.env.BENCH_APPS ?? 30);
const PER_APP = Number(process.env.BENCH_MACHINES_PER_APP ?? 10);

const home = mkdtempSync(join(tmpdir(), 'hangar-bench-'));
const daemon = spawn(process.execPath, [join(ROOT, 'bin', 'hangar.js'), 'server', '--listen', '127.0.0.1:0', '--proxy-listen', '127.0.0.1:0'], {
  env: { ...process.env, HANGAR_HOME: home },
  stdio: 'ignore',
});
let peakRss = 0;
const rssTimer = setInterval(() => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.pid}/status`, 'utf8'));
    if (m) peakRss = Math.max(peakRss, Number(m[1]) * 1024);
  } catch {
    // not up yet
  }
}, 50);

async function main() {
  const info = await waitFor(() => {
    const f = join(home, 'daemon.json');
    if (!existsSync(f)) return undefined;
    const i = JSON.parse(readFileSync(f, 'utf8'));
    return i.pid === daemon.pid ? i : undefined;
  });
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(info.api + path, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  };
  const timed = async (bucket: number[], fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    const r = await fn();
    bucket.push(performance.now() - t0);
    return r;
  };
  const lat = { create: [] as number[], start: [] as number[], list: [] as number[], stop: [] as number[], destroy: [] as number[] };
  const machines: Array<{ app: string; id: string }> = [];
  for (let a = 0; a < APPS; a++) {
    const app = `bench-${a}`;
    await call('POST', '/v1/apps', { app_name: app });
    const packed = packDirectory(join(ROOT, 'test', 'fixtures', 'echo-app'));
    const res = await fetch(`${info.api}/v1/apps/${app}/images?tag=bench`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': SNAPSHOT_CONTENT_TYPE }, body: Readable.toWeb(packed.stream) as never, duplex: 'half' } as RequestInit);
    const image = ((await res.json()) as { ref: string }).ref;
    for (let i = 0; i < PER_APP; i++) {
      const m = await timed(lat.create, () => call('POST', `/v1/apps/${app}/machines`, { config: { image, init: { cmd: ['sleep', '600'] } }, skip_launch: true }));
      machines.push({ app, id: (m as { id: string }).id });
    }
  }
  for (const m of machines) await timed(lat.start, () => call('POST', `/v1/apps/${m.app}/machines/${m.id}/start`));
  for (let a = 0; a < APPS; a++) for (let r = 0; r < 5; r++) await timed(lat.list, () => call('GET', `/v1/apps/bench-${a}/machines`));
  for (const m of machines) await timed(lat.stop, () => call('POST', `/v1/apps/${m.app}/machines/${m.id}/stop`, { signal: 'SIGTERM', timeout: 5 }));
  for (const m of machines) await timed(lat.destroy, () => call('DELETE', `/v1/apps/${m.app}/machines/${m.id}`));

  const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((x, y) => x - y);
    return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2));
  };
  const figures: Record<string, unknown> = { apps: APPS, machines: machines.length, peak_rss_mb: Number((peakRss / 1024 / 1024).toFixed(1)) };
  console.log(`hangar bench:machines — ${machines.length} machines across ${APPS} apps`);
  console.log('operation   n     p50 ms   p99 ms');
  for (const [op, xs] of Object.entries(lat)) {
    figures[`${op}_p50_ms`] = pct(xs, 50);
    figures[`${op}_p99_ms`] = pct(xs, 99);
    console.log(`${op.padEnd(10)} ${String(xs.length).padStart(4)} ${String(pct(xs, 50)).padStart(9)} ${String(pct(xs, 99)).padStart(8)}`);
  }
  console.log(`daemon peak RSS: ${figures.peak_rss_mb} MB`);
  console.log(`targets: list p50 < 50 ms (${(figures.list_p50_ms as number) < 50 ? 'met' : 'missed'}), create p50 < 100 ms (${(figures.create_p50_ms as number) < 100 ? 'met' : 'missed'}), RSS < 250 MB (${(figures.peak_rss_mb as number) < 250 ? 'met' : 'missed'})`);
  console.log(JSON.stringify(figures));
}

async function waitFor<T>(fn: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting for the daemon');
    await new Promise((r) => setTimeout(r, 50));
  }
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    clearInterval(rssTimer);
    daemon.kill('SIGTERM');
    await new Promise((r) => daemon.once('exit', r));
    rmSync(home, { recursive: true, force: true });
  });
