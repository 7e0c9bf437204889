import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LogLine } from '../core/log-line.js';
import { LogCollector, type PlatformLine } from './collector.js';

function setup(t: TestContext, opts: { rotateBytes?: number } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'hangar-logs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const src = { machineId: 'aaaaaaaaaaaaaa', app: 'web', region: 'ams', stdout: join(root, 'out.log'), stderr: join(root, 'err.log') };
  writeFileSync(src.stdout, '');
  writeFileSync(src.stderr, '');
  const dir = join(root, 'logs');
  const make = () => new LogCollector({ dir, ...opts });
  return { root, dir, src, make };
}

const runner = (message: string, extra: Partial<LogLine> = {}): PlatformLine => ({ source: 'runner', app: 'web', machine_id: 'aaaaaaaaaaaaaa', region: 'ams', level: 'info', message, ...extra });

test('a platform line about a machine is stored after the output the machine wrote before it', (t) => {
  const { src, make } = setup(t);
  const logs = make();
  logs.track(src);
  const output: string[] = [];
  const stored: string[] = [];
  logs.onLine((l) => output.push(l.message));
  logs.onStored((l) => stored.push(`${l.source}:${l.message}`));
  appendFileSync(src.stdout, 'last words\n');
  // No poll has run: append reads the output first.
  logs.append(runner('Machine exited with code 1'));
  assert.deepEqual(stored, ['app:last words', 'runner:Machine exited with code 1']);
  assert.deepEqual(output, ['last words'], 'onLine is machine output only');
  const h = logs.history({ machineIds: [src.machineId] }, 100);
  assert.deepEqual(h.map((l) => [l.source, l.message]), [['app', 'last words'], ['runner', 'Machine exited with code 1']]);
  assert.equal(h[0]!.stream, 'stdout');
});

test('app-wide lines live in the app file: included only when asked for, merged by time, and kept by the next collector', async (t) => {
  const { src, make } = setup(t);
  const logs = make();
  logs.track(src);
  logs.append({ timestamp: '2030-01-01T00:00:00.000Z', source: 'deploy', app: 'web', level: 'info', message: 'v1 pending: release v1' });
  logs.append(runner('Machine started', { timestamp: '2030-01-01T00:00:01.000Z' }));
  logs.append({ timestamp: '2030-01-01T00:00:02.000Z', source: 'proxy', app: 'web', level: 'error', message: 'No healthy machine' });
  const messages = (ls: LogLine[]) => ls.map((l) => l.message);
  assert.deepEqual(messages(logs.history({ machineIds: [src.machineId] }, 100)), ['Machine started']);
  assert.deepEqual(messages(logs.history({ machineIds: [src.machineId], app: 'web' }, 100)), ['v1 pending: release v1', 'Machine started', 'No healthy machine']);
  assert.deepEqual(messages(logs.history({ machineIds: [src.machineId], app: 'web', matches: (l) => l.source !== 'proxy' }, 1)), ['Machine started'], 'the limit counts matching lines');
  await logs.stop();
  const again = make();
  assert.deepEqual(again.machinesOf('web'), [src.machineId]);
  assert.deepEqual(messages(again.history({ machineIds: again.machinesOf('web'), app: 'web' }, 100)), ['v1 pending: release v1', 'Machine started', 'No healthy machine']);
});

test('a line about a machine the collector never tracked makes it one of the app’s machines', (t) => {
  const { make } = setup(t);
  const logs = make();
  logs.append(runner('Machine created', { machine_id: 'bbbbbbbbbbbbbb' }));
  assert.deepEqual(logs.machinesOf('web'), ['bbbbbbbbbbbbbb']);
});

test('lines stored before sources existed read as app lines; a torn last line is skipped', (t) => {
  const { dir, make } = setup(t);
  make();
  const old = { timestamp: '2029-01-01T00:00:00.000Z', machine_id: 'cccccccccccccc', region: 'ams', app: 'web', stream: 'stdout', level: 'info', message: 'hello' };
  writeFileSync(join(dir, 'cccccccccccccc.ndjson'), JSON.stringify(old) + '\n{"timestamp":"2029-01-01T00:00:01');
  const [line, ...rest] = make().history({ machineIds: ['cccccccccccccc'] }, 100);
  assert.deepEqual(rest, []);
  assert.deepEqual(line, { ...old, source: 'app' });
  assert.deepEqual(Object.keys(line!).slice(0, 2), ['timestamp', 'source']);
});

test('platform lines rotate with the output: one older file is kept and still read', (t) => {
  const { src, make } = setup(t, { rotateBytes: 600 });
  const logs = make();
  logs.track(src);
  for (let i = 0; i < 12; i++) logs.append(runner(`line ${i}`));
  const h = logs.history({ machineIds: [src.machineId] }, 100).map((l) => l.message);
  assert.ok(h.length < 12 && h[0] !== 'line 0', `the oldest lines went with a second rotation: ${h.join(', ')}`);
  assert.ok(h.length > 4, `the previous file is still read: ${h.join(', ')}`);
  assert.equal(h.at(-1), 'line 11');
});
