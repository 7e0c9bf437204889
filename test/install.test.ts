import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../src/config/index.js';
import { killMachines, ROOT, waitUntil } from './helpers.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop, killed at `timeoutMs`. */
function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => (stdout += c));
    p.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? -1, stdout, stderr: signal ? `${stderr}\n(killed by ${signal} after ${opts.timeoutMs} ms)` : stderr });
    });
  });
}

/**
 * A directory that installs the tarball with `npm ci --offline`: a package.json depending on it and a
 * lockfile made from hangar's own (its production entries, plus the tarball).
 *
 * Why not `npm install -g --offline <tarball>`: npm resolves a tarball's dependencies from the registry's
 * full metadata documents, which `npm ci` never fetches, so on a machine where only `npm ci` ran the
 * global install needs the network. With a lockfile npm takes the versions as given and the packages
 * from its cache, which `npm ci` filled. The installed package is the same: the tarball's files, its
 * production dependencies built from scratch (better-sqlite3 included), no devDependencies, no build.
 */
function writeInstallProject(dir: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const self = lock.packages['']!;
  const tgz = readFileSync(tarball);
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { dependencies: { hangar: spec } },
    'node_modules/hangar': {
      version: self.version,
      resolved: spec,
      integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}`,
      dependencies: self.dependencies,
      bin: self.bin,
      engines: self.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && !entry.dev) packages[path] = entry;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, dependencies: { hangar: spec }, allowScripts: { 'better-sqlite3': true } }, null, 2));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, requires: true, packages }, null, 2));
}

/** The environment the install and the installed CLI run in: this node first on PATH, no daemon from outside. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, NO_COLOR: '1', ...extra };
  delete env.HANGAR_API_URL;
  delete env.HANGAR_API_TOKEN;
  return env;
}

/**
 * Keeps the native build of better-sqlite3 offline: no attempt to download a prebuilt binary, and node's
 * headers from the installation this node runs from, when they are there.
 */
function offlineBuildEnv(): Record<string, string> {
  const env: Record<string, string> = { npm_config_build_from_source: 'better-sqlite3' };
  const nodedir = dirname(dirname(process.execPath));
  if (existsSync(join(nodedir, 'include', 'node', 'node.h'))) env.npm_config_nodedir = nodedir;
  return env;
}

const APP_SERVER = `const http = require('node:http');
const reply = process.env.REPLY_PREFIX + ' ' + require('./package.json').name;
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  res.end(reply + ' ' + require('./nonce.json').nonce);
}).listen(Number(process.env.PORT || 3000), '127.0.0.1');
process.on('SIGINT', () => process.exit(0));
`;

function proxyGet(proxy: string, host: string): Promise<{ status: number; text: string }> {
  const u = new URL(proxy);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: '/', headers: { host }, agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** SIGTERM for the daemon the CLI started (its pid is in daemon.json), SIGKILL if it lingers. */
async function stopDaemon(home: string): Promise<void> {
  let pid: number;
  try {
    pid = JSON.parse(readFileSync(join(home, 'daemon.json'), 'utf8')).pid;
  } catch {
    return;
  }
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !alive(), 15_000, 'the daemon to stop').catch(() => process.kill(pid, 'SIGKILL'));
}

test('the packed tarball installs without TypeScript, a build or the network, and launches and deploys an app outside the repository', { timeout: 420_000 }, async (t) => {
  assert.ok(existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js')), 'dist/ is built (npm test compiles first)');
  const work = mkdtempSync(join(tmpdir(), 'hangar-install-'));
  const home = join(work, 'home');
  t.after(async () => {
    await stopDaemon(home);
    killMachines(home);
    rmSync(work, { recursive: true, force: true });
  });

  // dist/ is already compiled, so the pack skips `prepare` (another tsc run).
  const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, timeoutMs: 120_000 });
  assert.equal(pack.status, 0, pack.stderr);
  const [packed] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed!.files.map((f) => f.path);
  for (const needed of ['bin/hangar.js', 'dist/src/cli/main.js', 'dist/src/daemon/daemon.js', 'package.json']) assert.ok(files.includes(needed), `${needed} is in the tarball`);
  assert.deepEqual(files.filter((f) => /\.ts$|\.test\.js$|\.map$|^test\/|^src\//.test(f)), [], 'no sources, tests or source maps');

  const prefix = join(work, 'prefix');
  writeInstallProject(prefix, join(work, packed!.filename));
  const started = Date.now();
  const install = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], { cwd: prefix, env: cleanEnv(offlineBuildEnv()), timeoutMs: 300_000 });
  const installMs = Date.now() - started;
  t.diagnostic(`offline install of the tarball (better-sqlite3 compiled from source): ${(installMs / 1000).toFixed(1)} s`);
  assert.equal(install.status, 0, `npm ci --offline failed (npm's cache must hold the dependencies: run npm ci in the repository first)\n${install.stdout}\n${install.stderr}`);
  assert.doesNotMatch(install.stdout, /hangar@[\d.]+ prepare/, "the package's prepare (tsc) does not run on install");
  assert.equal(existsSync(join(prefix, 'node_modules', 'typescript')), false, 'TypeScript is not installed');
  const hangar = join(prefix, 'node_modules', '.bin', 'hangar');
  assert.ok(existsSync(hangar));

  // A small Node app of the user's own, outside the repository.
  const app = join(work, 'myapp');
  const name = `inst-${randomBytes(4).toString('hex')}`;
  const nonce = randomBytes(8).toString('hex');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'myapp', private: true, scripts: { start: 'node server.js' } }));
  writeFileSync(join(app, 'server.js'), APP_SERVER);
  writeFileSync(join(app, 'nonce.json'), JSON.stringify({ nonce }));
  const env = cleanEnv({ HANGAR_HOME: home });

  const launch = await run(hangar, ['launch', '--yes', '--name', name], { cwd: app, env, timeoutMs: 30_000 });
  assert.equal(launch.status, 0, launch.stderr);
  assert.match(launch.stdout, /^Next: hangar deploy$/m);
  const { config } = loadConfig(join(app, 'hangar.toml'));
  assert.equal(config.app, name);
  assert.deepEqual(config.processes, { app: 'node server.js' });
  assert.equal(config.httpService?.checks[0]?.path, '/health');

  const deploy = await run(hangar, ['deploy', '-e', 'REPLY_PREFIX=hello from'], { cwd: app, env, timeoutMs: 180_000 });
  assert.equal(deploy.status, 0, `${deploy.stdout}\n${deploy.stderr}`);
  assert.match(deploy.stderr, /^started a hangar daemon for /m, 'the installed CLI started its daemon');
  const info = JSON.parse(readFileSync(join(home, 'daemon.json'), 'utf8')) as { pid: number; proxy: string };
  const port = new URL(info.proxy).port;
  assert.match(deploy.stdout, new RegExp(`release v1 deployed .*http://${name}\\.localhost:${port}`));
  if (existsSync('/proc/self/cwd')) assert.equal(readlinkSync(`/proc/${info.pid}/cwd`), home, 'the daemon runs in HANGAR_HOME, not in the app directory');

  let answer = { status: 0, text: '' };
  await waitUntil(async () => (answer = await proxyGet(info.proxy, `${name}.localhost`)).status === 200, 15_000, 'the app to answer through the proxy');
  assert.equal(answer.text, `hello from myapp ${nonce}`);
});
