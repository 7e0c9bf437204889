#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner, streams its TAP output,
// and ends with one summary line CI can read: "N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

function find(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) find(p, out);
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const only = process.argv.slice(2);
const files = find('dist').filter((f) => only.length === 0 || only.some((o) => f.includes(o))).sort();
const child = spawn(process.execPath, ['--test', '--test-reporter=tap', ...files], { stdio: ['ignore', 'pipe', 'inherit'] });
let pass = 0;
let fail = 0;
let buf = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  buf += chunk.toString();
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const m = /^# (pass|fail) (\d+)$/.exec(line);
    if (m) m[1] === 'pass' ? (pass = Number(m[2])) : (fail = Number(m[2]));
  }
});
child.on('exit', (code) => {
  process.stdout.write(`\n${pass} passed, ${fail} failed\n`);
  process.exit(code === 0 && fail === 0 ? 0 : 1);
});
