import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitCommand } from '../../config/index.js';
import { UserError } from '../../core/errors.js';
import type { RuntimeGuess } from './plan.js';

interface PackageJson {
  main?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
}

/** Files `node` is commonly started with when package.json has neither a start script nor `main`. */
const ENTRY_FILES = ['server.js', 'index.js', 'app.js', 'main.js', 'server.mjs', 'index.mjs'];

/** A Node app is a directory with a package.json. Throws `invalid_package_json` when it is not JSON. */
export function detectNode(dir: string): RuntimeGuess | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  const pkg = readPackageJson(file);
  const guess: RuntimeGuess = { kind: 'Node app', found: ['package.json'], notes: [], env: {} };
  const start = startCommand(dir, pkg);
  if (start) guess.start = start;
  const build = buildCommand(dir, pkg);
  if (build) {
    guess.buildCommand = build.command;
    guess.found.push(`build: ${build.command} (${build.why})`);
  } else guess.found.push('build: none (no dependencies and no build script)');
  for (const other of ['yarn.lock', 'pnpm-lock.yaml', 'bun.lockb']) {
    if (existsSync(join(dir, other)) && build) guess.notes.push(`${other} found, but the build command uses npm: change [build] command if the app needs ${other.split(/[.-]/)[0]}`);
  }
  return guess;
}

function readPackageJson(file: string): PackageJson {
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as PackageJson;
    throw new Error('not an object');
  } catch (err) {
    throw new UserError({ code: 'invalid_package_json', message: `${file} is not a valid package.json: ${(err as Error).message}`, hint: 'fix it, or pass the app directory that holds the real one' });
  }
}

function script(pkg: PackageJson, name: string): string | undefined {
  const s = pkg.scripts?.[name];
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
}

/**
 * A start script that is a plain `node …` command runs as it is, so hangar's stop signal reaches the
 * app itself; anything else (`next start`, `tsx server.ts`, shell syntax) needs npm's PATH and runs
 * through `npm start`.
 */
function startCommand(dir: string, pkg: PackageJson): RuntimeGuess['start'] {
  const start = script(pkg, 'start');
  if (start) {
    if (splitCommand(start)[0] === 'node') return { command: start, why: `the start script` };
    return { command: 'npm start', why: `the start script "${start}", run by npm` };
  }
  if (typeof pkg.main === 'string' && existsSync(join(dir, pkg.main))) return { command: `node ${pkg.main}`, why: 'package.json main' };
  const entry = ENTRY_FILES.find((f) => existsSync(join(dir, f)));
  return entry ? { command: `node ${entry}`, why: `${entry} (no start script)` } : undefined;
}

/**
 * The build runs in the daemon on a copy of the directory. A build script needs the devDependencies
 * that compile; otherwise only what runs is installed. `npm ci` needs a lockfile; without one,
 * `npm install` resolves the versions at build time.
 */
function buildCommand(dir: string, pkg: PackageJson): { command: string; why: string } | undefined {
  const locked = existsSync(join(dir, 'package-lock.json')) || existsSync(join(dir, 'npm-shrinkwrap.json'));
  const install = locked ? 'npm ci' : 'npm install';
  const lockNote = locked ? '' : ', no package-lock.json';
  if (script(pkg, 'build')) return { command: `${install} && npm run build`, why: `the build script${lockNote}` };
  const deps = pkg.dependencies && typeof pkg.dependencies === 'object' ? Object.keys(pkg.dependencies).length : 0;
  if (deps > 0) return { command: `${install} --omit=dev`, why: `${deps} ${deps === 1 ? 'dependency' : 'dependencies'}${lockNote}` };
  return undefined;
}
