import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, machineConfigFor } from '../src/config/index.js';
import { BIN } from './helpers.js';

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * A temp directory holding an app directory named `name` with `files`, and a HANGAR_HOME that must stay
 * empty: launch only writes a file, it never needs a daemon.
 */
function fixture(t: { after(fn: () => unknown): void }, files: Record<string, string>, name = 'app'): { dir: string; home: string } {
  const root = mkdtempSync(join(tmpdir(), 'hangar-launch-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, name);
  mkdirSync(dir);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return { dir, home: join(root, 'home') };
}

/** Runs the CLI in `cwd` with its stdin a pipe (never a terminal), as CI and scripts do. */
function launch(cwd: string, home: string, args: string[] = []): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home, NO_COLOR: '1' };
  delete env.HANGAR_API_URL;
  const r = spawnSync(process.execPath, [BIN, 'launch', ...args], { cwd, env, encoding: 'utf8', input: '', timeout: 30_000 });
  assert.equal(existsSync(home), false, 'launch started no daemon');
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const NODE_SERVER = `const http = require('node:http');
const port = process.env.PORT || 3000;
http.createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  res.end('hi');
}).listen(port);
`;

test('a Node app with a start script and a /health route gets its command, port and check', (t) => {
  const { dir, home } = fixture(t, { 'package.json': JSON.stringify({ name: 'shop', scripts: { start: 'node server.js' } }), 'server.js': NODE_SERVER }, 'My Shop_2');
  const r = launch(dir, home, ['--yes']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.equal(config.app, 'my-shop-2', 'the directory name made a valid app name');
  assert.equal(config.primaryRegion, 'local');
  assert.deepEqual(config.processes, { app: 'node server.js' });
  assert.equal(config.build.command, undefined, 'no dependencies: nothing to install');
  assert.equal(config.httpService?.internalPort, 3000, "the app's fallback port");
  assert.deepEqual(config.httpService?.processes, ['app']);
  assert.deepEqual(config.httpService?.checks.map((c) => [c.method, c.path]), [['GET', '/health']]);
  assert.match(r.stdout, /^Detected a Node app in .*My Shop_2:$/m);
  assert.match(r.stdout, /health check: GET \/health \(the route in server\.js\)/);
  assert.match(r.stdout, /^Wrote .*hangar\.toml \(app my-shop-2, region local\)\.$/m);
  assert.match(r.stdout, /^Next: hangar deploy$/m);
});

test('a Node app whose start script is not plain node runs through npm start; dependencies and a build script make the build command', (t) => {
  const { dir, home } = fixture(t, {
    'package.json': JSON.stringify({ scripts: { start: 'next start', build: 'next build' }, dependencies: { next: '^15' } }),
    'package-lock.json': '{}',
  });
  const r = launch(dir, home, ['--name', 'front', '--region', 'ams']);
  assert.equal(r.status, 0, r.stderr);
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.equal(config.app, 'front');
  assert.equal(config.primaryRegion, 'ams');
  assert.deepEqual(config.processes, { app: 'npm start' });
  assert.equal(config.build.command, 'npm ci && npm run build');
  assert.equal(config.httpService?.internalPort, 8080, 'no port in the source: the default');
  assert.equal(config.httpService?.checks[0]?.path, '/', 'no health route: the root');
  assert.match(r.stdout, /note: the source does not seem to read PORT/);
});

test('a Procfile app gets one process group per line, the http_service on web only, and its release line as the release command', (t) => {
  const { dir, home } = fixture(t, {
    Procfile: '# processes\nweb: node server.js\nworker: node worker.js --queue=mail\nrelease: node migrate.js\n',
    'package.json': JSON.stringify({ dependencies: { pg: '^8' } }),
    'package-lock.json': '{}',
    'server.js': NODE_SERVER.replace("'/health'", "'/healthz'"),
  });
  const r = launch(dir, home, ['--yes', '--name', 'mailer']);
  assert.equal(r.status, 0, r.stderr);
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.deepEqual(config.processes, { web: 'node server.js', worker: 'node worker.js --queue=mail' });
  assert.equal(config.deploy.releaseCommand, 'node migrate.js');
  assert.equal(config.build.command, 'npm ci --omit=dev');
  assert.deepEqual(config.httpService?.processes, ['web']);
  assert.equal(config.httpService?.checks[0]?.path, '/healthz');
  const services = (group: string) => machineConfigFor(config, { group, image: 'x' }).services;
  assert.equal(services('web').length, 1);
  assert.equal(services('web')[0]!.checks?.length, 1);
  assert.deepEqual(services('worker'), [], 'the worker is not routed to');
  assert.match(r.stdout, /Procfile: process groups web, worker; release command/);
});

test('a Python app: dependencies installed into the image, uvicorn serving the FastAPI object on $PORT', (t) => {
  const { dir, home } = fixture(t, {
    'requirements.txt': 'fastapi==0.115.0\nuvicorn[standard]>=0.30  # server\n',
    'main.py': 'from fastapi import FastAPI\n\napi: FastAPI = FastAPI()\n\n@api.get("/health")\ndef health():\n    return {"ok": True}\n',
  });
  const r = launch(dir, home, ['--yes', '--name', 'pyapi']);
  assert.equal(r.status, 0, r.stderr);
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.deepEqual(config.processes, { app: 'python3 -m uvicorn main:api --host 127.0.0.1 --port $PORT' });
  assert.equal(config.build.command, 'python3 -m pip install --target .pydeps -r requirements.txt');
  assert.deepEqual(config.env, { PYTHONPATH: '.pydeps' });
  assert.equal(config.killSignal, 'SIGTERM');
  assert.equal(config.httpService?.checks[0]?.path, '/health');
  assert.match(r.stdout, /^Detected a Python app \(FastAPI\) in /m);
  assert.doesNotMatch(r.stdout, /does not seem to read PORT/, 'the command passes the port');
});

test("a Dockerfile app is built by Docker, runs the image's CMD and gets the EXPOSEd port", (t) => {
  const { dir, home } = fixture(t, {
    Dockerfile: 'FROM busybox\n# the port\nEXPOSE ${OTHER} 3000/tcp\nCMD ["httpd", "-f"]\n',
    'package.json': JSON.stringify({ scripts: { start: 'node server.js' }, dependencies: { express: '^4' } }),
  });
  const r = launch(dir, home, ['--yes', '--name', 'boxed']);
  assert.equal(r.status, 0, r.stderr);
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.equal(config.build.dockerfile, 'Dockerfile');
  assert.equal(config.build.command, undefined, 'the Dockerfile is the build');
  assert.deepEqual(config.processes, {}, "the image's own command runs");
  assert.equal(config.httpService?.internalPort, 3000);
  assert.equal(config.httpService?.processes, undefined);
  assert.match(r.stdout, /EXPOSE 3000/);
});

test('an empty directory gets a commented template that loads, and is told what could not be detected', (t) => {
  const { dir, home } = fixture(t, {}, 'blank');
  const r = launch(dir, home);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Could not detect the app in .*blank: found none of a Dockerfile, a Procfile, package\.json, requirements\.txt or pyproject\.toml\.$/m);
  assert.match(r.stdout, /^Wrote a commented template to .*hangar\.toml \(app blank, region local\)\.$/m);
  const text = readFileSync(join(dir, 'hangar.toml'), 'utf8');
  assert.match(text, /^# \[processes\]/m);
  assert.match(text, /^# \[http_service\]/m);
  const { config } = loadConfig(join(dir, 'hangar.toml'));
  assert.equal(config.app, 'blank');
  assert.deepEqual(config.processes, {});
  assert.equal(config.httpService, undefined);
});

test('an existing hangar.toml or fly.toml is refused by name, unchanged, unless --force', (t) => {
  for (const name of ['hangar.toml', 'fly.toml']) {
    const { dir, home } = fixture(t, { 'package.json': JSON.stringify({ scripts: { start: 'node server.js' } }), [name]: 'app = "kept"\n' });
    const r = launch(dir, home, ['--yes', '--name', 'fresh']);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr.split('\n')[0], `Error: ${join(dir, name)} already exists${name === 'fly.toml' ? ': hangar deploy reads it as it is' : ''}`);
    assert.match(r.stderr, /^hint: --force /m);
    assert.equal(readFileSync(join(dir, name), 'utf8'), 'app = "kept"\n');
    if (name === 'fly.toml') assert.equal(existsSync(join(dir, 'hangar.toml')), false);

    const forced = launch(dir, home, ['--yes', '--name', 'fresh', '--force']);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal(loadConfig(join(dir, 'hangar.toml')).config.app, 'fresh');
    if (name === 'fly.toml') assert.equal(readFileSync(join(dir, 'fly.toml'), 'utf8'), 'app = "kept"\n', 'fly.toml is left alone');
  }
});

test('a bad --name or --region is refused before anything is written', (t) => {
  const { dir, home } = fixture(t, {});
  const r = launch(dir, home, ['--name', 'Bad_Name']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^Error: --name "Bad_Name" is not a valid app name$/m);
  const region = launch(dir, home, ['--region', 'a b']);
  assert.equal(region.status, 1);
  assert.match(region.stderr, /^Error: --region "a b" is not a region name$/m);
  assert.equal(existsSync(join(dir, 'hangar.toml')), false);
});

test('without a terminal it never asks: stdin left open does not hold it up', async (t) => {
  const { dir, home } = fixture(t, { 'package.json': JSON.stringify({ scripts: { start: 'node server.js' } }) }, 'quiet');
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home, NO_COLOR: '1' };
  // A prompt would wait for a line on this pipe forever; the deadline below would then fail the test.
  const p = spawn(process.execPath, [BIN, 'launch'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => p.kill('SIGKILL'));
  let stdout = '';
  p.stdout!.on('data', (c) => (stdout += c));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`launch did not finish with stdin open: ${stdout}`)), 20_000);
    p.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0);
  assert.doesNotMatch(stdout, /App name/);
  assert.equal(loadConfig(join(dir, 'hangar.toml')).config.app, 'quiet');
});

test('on a terminal it asks for the app name, offering the directory name', { skip: spawnSync('script', ['--version']).status === 0 ? false : 'needs util-linux script(1) for a pseudo-terminal' }, (t) => {
  const { dir, home } = fixture(t, { 'package.json': JSON.stringify({ scripts: { start: 'node server.js' } }) }, 'asked');
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_HOME: home, NO_COLOR: '1' };
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // An invalid answer is asked again; the second is taken.
  const r = spawnSync('script', ['-qec', `${quote(process.execPath)} ${quote(BIN)} launch`, '/dev/null'], { cwd: dir, env, input: 'Not Valid\nchosen-name\n', encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /App name \[asked\]: /);
  assert.match(r.stdout, /app names start with a lowercase letter/);
  assert.equal(loadConfig(join(dir, 'hangar.toml')).config.app, 'chosen-name');
});
