import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { appDir, startDaemon, waitUntil, WEB_TOML } from './helpers.js';

async function receiver(t: { after(fn: () => unknown): void }, status: number) {
  const bodies: Array<Record<string, unknown>> = [];
  let hits = 0;
  const server: Server = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      hits++;
      if (status === 200) bodies.push(JSON.parse(data));
      res.writeHead(status);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, bodies, hits: () => hits };
}

test('[[deploy.notify]] and --notify: started and completed are posted; a failing webhook never fails the deploy', async (t) => {
  const d = await startDaemon(t, { env: { HANGAR_NOTIFY_RETRY: '20ms,20ms' } });
  const ok = await receiver(t, 200);
  const broken = await receiver(t, 500);
  const dir = appDir(t, WEB_TOML('hooks', `\n[[deploy.notify]]\nurl = "${ok.url}"\n`));
  const r = await d.cliAsync(['deploy', dir, '--notify', broken.url]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  await waitUntil(() => ok.bodies.length >= 2, 5000, 'two notifications');
  const [started, completed] = ok.bodies;
  assert.equal(started!.event, 'started');
  assert.equal(completed!.event, 'completed');
  assert.equal(completed!.app, 'hooks');
  assert.equal(completed!.release, 1);
  assert.equal(completed!.strategy, 'rolling');
  assert.equal(completed!.status, 'complete');
  assert.match(String(completed!.text), /^hangar: hooks release v1 \(rolling\) completed after \d+\.\ds$/);
  assert.equal((completed!.machines as unknown[]).length, 2);
  assert.ok(Number(completed!.duration_ms) > 0);
  await waitUntil(() => broken.hits() >= 6, 5000, 'the broken webhook retried (3 attempts per event)');

  const flags = mkdtempSync(join(tmpdir(), 'hangar-flag-'));
  t.after(() => rmSync(flags, { recursive: true, force: true }));
  writeFileSync(join(flags, 'f'), '');
  const bad = await d.cliAsync(['deploy', dir, '-e', `HEALTH_FAIL_FILE=${join(flags, 'f')}`, '--wait-timeout', '1s']);
  assert.equal(bad.status, 1);
  await waitUntil(() => ok.bodies.some((b) => b.event === 'rolled_back'), 5000, 'the rolled_back notification');
  assert.match(String(ok.bodies.find((b) => b.event === 'rolled_back')!.text), /rolled back/);

  const ftp = appDir(t, WEB_TOML('hooks', '\n[[deploy.notify]]\nurl = "ftp://example.test/x"\n'));
  const e = await d.cliAsync(['deploy', ftp]);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /deploy\.notify\[0\]\.url/);
  const e2 = await d.cliAsync(['deploy', dir, '--notify', 'mailto:x']);
  assert.equal(e2.status, 1);
  assert.match(e2.stderr, /notify: must be an http\(s\) URL/);
});
