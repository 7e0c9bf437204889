import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '../../config/index.js';
import { suggestedName } from '../commands/launch.js';
import { detectApp, exposedPort } from './detect.js';
import { renderConfig } from './render.js';

function appWith(t: { after(fn: () => unknown): void }, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-detect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  return dir;
}

/** Detects, renders and loads, as launch does: every plan must come out as a valid config. */
function configFor(dir: string) {
  const plan = detectApp(dir);
  return { plan, config: parseConfig(renderConfig(plan, { app: 'x', region: 'local' }), join(dir, 'hangar.toml')).config };
}

test('EXPOSE: the first numeric port, across continuation lines, skipping variables', () => {
  assert.equal(exposedPort('FROM x\nexpose 8000\n'), 8000);
  assert.equal(exposedPort('FROM x\nEXPOSE $PORT \\\n  5000/udp 6000\n'), 5000);
  assert.equal(exposedPort('FROM x\nEXPOSE 99999\n'), undefined);
  assert.equal(exposedPort('FROM x\n# EXPOSE 80\n'), undefined);
});

test('app names from directory names', () => {
  assert.equal(suggestedName('/src/My_Cool.App'), 'my-cool-app');
  assert.equal(suggestedName('/src/2048'), 'app-2048');
  assert.equal(suggestedName(`/src/${'a'.repeat(70)}`), 'a'.repeat(63));
  assert.throws(() => suggestedName('/src/___'), { code: 'no_app_name' });
});

test('Python: gunicorn serves a Flask app, flask alone runs flask run, a bare script runs as it is', (t) => {
  const flask = 'from flask import Flask\nserver = Flask(__name__)\n';
  assert.deepEqual(configFor(appWith(t, { 'requirements.txt': 'Flask\ngunicorn\n', 'app.py': flask })).config.processes, { app: 'python3 -m gunicorn --bind 127.0.0.1:$PORT app:server' });
  assert.deepEqual(configFor(appWith(t, { 'requirements.txt': 'flask>=3\n', 'app.py': flask })).config.processes, { app: 'python3 -m flask --app app run --host 127.0.0.1 --port $PORT' });
  const bare = configFor(appWith(t, { 'requirements.txt': 'requests\n', 'main.py': 'import os\nos.environ.get("PORT", "9000")\n' }));
  assert.deepEqual(bare.config.processes, { app: 'python3 main.py' });
  assert.equal(bare.config.httpService?.internalPort, 9000);
});

test('Python: a Django project with gunicorn; a pyproject is installed as a package', (t) => {
  const django = configFor(appWith(t, { 'requirements.txt': 'Django\ngunicorn\n', 'manage.py': '', 'shop/wsgi.py': '' }));
  assert.deepEqual(django.config.processes, { app: 'python3 -m gunicorn --bind 127.0.0.1:$PORT shop.wsgi' });
  assert.equal(django.plan.kind, 'Python app (Django)');
  const pyproject = configFor(appWith(t, { 'pyproject.toml': '[project]\nname = "p"\ndependencies = ["uvicorn>=0.30", "fastapi"]\n', 'main.py': 'app = FastAPI()\n' }));
  assert.equal(pyproject.config.build.command, 'python3 -m pip install --target .pydeps .');
  assert.deepEqual(pyproject.config.processes, { app: 'python3 -m uvicorn main:app --host 127.0.0.1 --port $PORT' });
});

test('a Python project with no entry module loads, and says what it could not detect', (t) => {
  const { plan, config } = configFor(appWith(t, { 'requirements.txt': 'requests\n' }));
  assert.deepEqual(plan.missing, ['the command that starts the Python app']);
  assert.deepEqual(config.processes, {});
});

test('Node: package.json main, then server.js; npm install without a lockfile; a bad package.json is a user error', (t) => {
  const main = configFor(appWith(t, { 'package.json': JSON.stringify({ main: 'lib/start.js', dependencies: { a: '1' } }), 'lib/start.js': '' }));
  assert.deepEqual(main.config.processes, { app: 'node lib/start.js' });
  assert.equal(main.config.build.command, 'npm install --omit=dev');
  assert.deepEqual(configFor(appWith(t, { 'package.json': '{}', 'server.js': '' })).config.processes, { app: 'node server.js' });
  assert.throws(() => detectApp(appWith(t, { 'package.json': '{nope' })), { code: 'invalid_package_json' });
});

test('the source scan prefers /health to /healthz and skips node_modules', (t) => {
  const dir = appWith(t, { 'package.json': '{}', 'a.js': "get('/healthz')", 'b.js': 'get("/health")', 'node_modules/x/index.js': "process.env.PORT || 1234; '/health'" });
  const { config } = configFor(dir);
  assert.equal(config.httpService?.checks[0]?.path, '/health');
  assert.equal(config.httpService?.internalPort, 8080, 'a dependency’s port is not the app’s');
});

test('a Procfile without web gets no http_service; odd group names are made valid', (t) => {
  const { plan, config } = configFor(appWith(t, { Procfile: 'Worker: ./run\n9lives: ./cat\n' }));
  assert.deepEqual(config.processes, { worker: './run', p9lives: './cat' });
  assert.equal(config.httpService, undefined);
  assert.match(plan.notes.join('\n'), /no "web" process/);
});

test('TOML strings survive quotes, backslashes and control characters', (t) => {
  const { config } = configFor(appWith(t, { Procfile: 'web: echo "a\\b" \u007f\t$PORT\n' }));
  assert.equal(config.processes.web, 'echo "a\\b" \u007f\t$PORT');
});
