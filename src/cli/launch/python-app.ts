import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { UserError } from '../../core/errors.js';
import type { RuntimeGuess } from './plan.js';

/**
 * Where the build installs the app's packages. A virtualenv would hard-code the build directory's
 * absolute path, and the daemon builds in a scratch copy that is then stored elsewhere; a
 * `pip --target` directory on PYTHONPATH (relative to the machine's working directory, the image) moves.
 */
const DEPS_DIR = '.pydeps';
const MODULE_FILES = ['app.py', 'main.py', 'wsgi.py', 'asgi.py', 'server.py', 'application.py'];
const APP_OBJECT = /^(\w+)\s*(?::[^=]+)?=\s*(?:\w+\.)?(Flask|FastAPI|Starlette|Quart|Sanic)\(/m;

/** A Python app is a directory with requirements.txt or pyproject.toml. */
export function detectPython(dir: string): RuntimeGuess | undefined {
  const requirements = existsSync(join(dir, 'requirements.txt'));
  const pyproject = existsSync(join(dir, 'pyproject.toml'));
  if (!requirements && !pyproject) return undefined;
  const deps = new Set([...(requirements ? requirementNames(dir) : []), ...(pyproject ? pyprojectNames(dir) : [])]);
  const buildCommand = requirements ? `python3 -m pip install --target ${DEPS_DIR} -r requirements.txt` : `python3 -m pip install --target ${DEPS_DIR} .`;
  const guess: RuntimeGuess = {
    kind: 'Python app',
    found: [requirements ? 'requirements.txt' : 'pyproject.toml', `build: ${buildCommand}`],
    notes: [],
    buildCommand,
    env: { PYTHONPATH: DEPS_DIR },
  };
  const start = startCommand(dir, deps);
  if (start) {
    guess.start = { command: start.command, why: start.why };
    if (start.framework) guess.kind = `Python app (${start.framework})`;
    // gunicorn and uvicorn stop at once on SIGINT; SIGTERM lets them finish the requests in flight.
    if (start.server) guess.killSignal = 'SIGTERM';
  }
  return guess;
}

interface PythonStart {
  command: string;
  why: string;
  framework?: string;
  server?: 'gunicorn' | 'uvicorn';
}

/** Commands bind 127.0.0.1:$PORT, where hangar's proxy and checks reach a process machine. */
function startCommand(dir: string, deps: Set<string>): PythonStart | undefined {
  const django = djangoProject(dir);
  if (django && deps.has('gunicorn')) return { command: `python3 -m gunicorn --bind 127.0.0.1:$PORT ${django}.wsgi`, why: 'gunicorn serving the Django project', framework: 'Django', server: 'gunicorn' };
  if (django) return { command: 'python3 manage.py runserver 127.0.0.1:$PORT --noreload', why: "Django's runserver (add gunicorn for production)", framework: 'Django' };
  const found = appModule(dir);
  if (!found) return undefined;
  const { file, module, object, framework } = found;
  const target = `${module}:${object}`;
  const asgi = framework === 'FastAPI' || framework === 'Starlette' || framework === 'Quart';
  if (asgi && deps.has('uvicorn')) return { command: `python3 -m uvicorn ${target} --host 127.0.0.1 --port $PORT`, why: `uvicorn serving ${target}`, framework, server: 'uvicorn' };
  if (!asgi && deps.has('gunicorn')) return { command: `python3 -m gunicorn --bind 127.0.0.1:$PORT ${target}`, why: `gunicorn serving ${target}`, framework, server: 'gunicorn' };
  if (framework === 'Flask' && deps.has('flask')) return { command: `python3 -m flask --app ${module} run --host 127.0.0.1 --port $PORT`, why: `flask run (add gunicorn for production)`, framework };
  return { command: `python3 ${file}`, why: file, framework };
}

/** The first of the usual module files, with the name of the framework object it creates. */
function appModule(dir: string): { file: string; module: string; object: string; framework?: string } | undefined {
  for (const file of MODULE_FILES) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    const m = APP_OBJECT.exec(readText(path));
    return { file, module: file.slice(0, -3), object: m?.[1] ?? 'app', framework: m?.[2] };
  }
  return undefined;
}

/** A Django project: manage.py next to a package holding wsgi.py; returns that package's name. */
function djangoProject(dir: string): string | undefined {
  if (!existsSync(join(dir, 'manage.py'))) return undefined;
  const pkg = readdirSync(dir, { withFileTypes: true }).find((e) => e.isDirectory() && existsSync(join(dir, e.name, 'wsgi.py')));
  return pkg?.name;
}

function requirementNames(dir: string): string[] {
  return readText(join(dir, 'requirements.txt'))
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('-'))
    .map(packageName);
}

/** `[project] dependencies` (PEP 621) and `[tool.poetry.dependencies]`. */
function pyprojectNames(dir: string): string[] {
  const file = join(dir, 'pyproject.toml');
  let doc: Record<string, any>;
  try {
    doc = parseToml(readText(file)) as Record<string, any>;
  } catch (err) {
    throw new UserError({ code: 'invalid_pyproject', message: `${file} is not valid TOML: ${(err as Error).message.split('\n')[0]}`, hint: 'fix it, or pass the app directory that holds the real one' });
  }
  const pep621 = Array.isArray(doc.project?.dependencies) ? (doc.project.dependencies as unknown[]).filter((d): d is string => typeof d === 'string') : [];
  const poetry = Object.keys(doc.tool?.poetry?.dependencies ?? {});
  return [...pep621, ...poetry].map(packageName);
}

/** "Flask[async]>=3.0 ; python_version>'3.8'" → "flask" (PEP 503 normalised). */
function packageName(spec: string): string {
  return spec.split(/[\s<>=!~;[@(]/)[0]!.toLowerCase().replace(/[_.]+/g, '-');
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
