import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeployEventLine } from '../api/contract.js';
import { LiveView } from './render.js';

/** Applies the few ANSI codes LiveView uses (cursor up N, clear to end) to get the final screen. */
function screen(chunks: string[]): string[] {
  const lines: string[] = [];
  for (const chunk of chunks) {
    let rest = chunk;
    const m = /^\x1b\[(\d+)A\x1b\[J/.exec(rest);
    if (m) {
      lines.splice(lines.length - Number(m[1]));
      rest = rest.slice(m[0].length);
    }
    lines.push(...rest.split('\n').slice(0, -1));
  }
  return lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
}

test('the live view keeps one line per machine under the scrolling event lines', () => {
  const chunks: string[] = [];
  const v = new LiveView((s) => chunks.push(s));
  const ev = (seq: number, event: DeployEventLine['event']): DeployEventLine => ({ seq, at: '2026-11-22T12:00:00.000Z', event });
  v.event(ev(1, { type: 'phase', phase: 'update_machines', message: 'updating' }), '==> updating');
  v.event(ev(2, { type: 'machine', machineId: 'aaa', outcome: 'updating', message: 'updating aaa' }), '');
  v.event(ev(3, { type: 'machine', machineId: 'bbb', outcome: 'updating', message: 'updating bbb' }), '');
  v.event(ev(4, { type: 'machine', machineId: 'aaa', outcome: 'updated', message: 'aaa is on v2' }), '');
  assert.deepEqual(screen(chunks), ['==> updating', '  aaa  updated     aaa is on v2', '  bbb  updating    updating bbb']);
  v.event(ev(5, { type: 'machine', machineId: 'bbb', outcome: 'updated', message: 'bbb is on v2' }), '');
  v.event(ev(6, { type: 'done', status: 'complete', release: 2, message: 'release v2 deployed', url: null }), 'done line');
  assert.deepEqual(screen(chunks), ['==> updating', 'done line', '  aaa  updated', '  bbb  updated']);
});
