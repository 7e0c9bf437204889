import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../core/errors.js';
import { isDockerHub } from '../../core/image-ref.js';

/**
 * Registry credentials, found where the docker CLI keeps them, so that `docker login` is all a user
 * has to do before hangar pushes or pulls. The values returned here are secrets: they go into the
 * engine's `X-Registry-Auth` header and nowhere else (never a log line, never an error message).
 */

/** The key Docker Hub credentials are stored under, whatever alias the user typed. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** A username and password, or an identity (refresh) token that a registry's token service accepts. */
export type RegistryAuth =
  | { kind: 'password'; serverAddress: string; username: string; password: string }
  | { kind: 'token'; serverAddress: string; identityToken: string };

export interface RegistryAuthOptions {
  /** The directory holding `config.json`; defaults to `$DOCKER_CONFIG`, then `~/.docker`. */
  configDir?: string;
}

/** The parts of `config.json` credentials are read from. */
interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** A credential helper's answer to `get`. */
interface HelperAnswer {
  Username?: unknown;
  Secret?: unknown;
}

/** The username a credential helper answers with when `Secret` is an identity token. */
const TOKEN_USERNAME = '<token>';
const HELPER_TIMEOUT_MS = 30_000;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The credentials the docker CLI would use for `registry` (a host such as `ghcr.io` or
 * `127.0.0.1:5000`; `docker.io` and its aliases mean Docker Hub): a credential helper configured for
 * that registry first, then the global `credsStore`, then `auths` in the config file. Undefined when
 * none are configured, which means anonymous access.
 * @throws UserError `docker_config_invalid` when config.json cannot be read as Docker's format;
 *   `docker_credentials_unavailable` when a configured credential helper cannot be run.
 */
export async function registryAuthFor(registry: string, opts: RegistryAuthOptions = {}): Promise<RegistryAuth | undefined> {
  const file = join(opts.configDir ?? dockerConfigDir(), 'config.json');
  const config = await readDockerConfig(file);
  if (!config) return undefined;
  const key = authKey(registry);
  const helper = lookup(config.credHelpers, key) ?? config.credsStore;
  if (helper) return fromHelper(file, helper, key);
  const entry = lookup(config.auths, key);
  return entry ? fromEntry(file, key, entry) : undefined;
}

/**
 * The value of the engine's `X-Registry-Auth` header: the JSON AuthConfig in URL-safe base64. Padding
 * is kept, as the docker CLI does, because older engines decode with padded base64 only. No
 * credentials encode `{}`, which the engine reads as anonymous (and which push requires: without the
 * header it fails instead of pushing anonymously).
 */
export function encodeRegistryAuth(auth: RegistryAuth | undefined): string {
  const json = !auth
    ? {}
    : auth.kind === 'token'
      ? { identitytoken: auth.identityToken, serveraddress: auth.serverAddress }
      : { username: auth.username, password: auth.password, serveraddress: auth.serverAddress };
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** Where the docker CLI looks for config.json. */
export function dockerConfigDir(): string {
  const fromEnv = process.env.DOCKER_CONFIG;
  return fromEnv && fromEnv !== '' ? fromEnv : join(homedir(), '.docker');
}

/**
 * The key credentials for `registry` are stored under: Docker Hub's historical index URL, or the bare
 * host for every other registry (a scheme or path the user typed is dropped).
 */
export function authKey(registry: string): string {
  const host = hostOf(registry);
  return host === '' || isDockerHub(host) ? DOCKER_HUB_AUTH_KEY : host;
}

/** `https://host:port/v2/` → `host:port`; config keys come in all the forms `docker login` ever wrote. */
function hostOf(addressOrKey: string): string {
  const trimmed = addressOrKey.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = trimmed.indexOf('/');
  return slash >= 0 ? trimmed.slice(0, slash) : trimmed;
}

/** An exact match first, then any key naming the same registry in another form. */
function lookup<T>(map: Record<string, T> | undefined, key: string): T | undefined {
  if (!map) return undefined;
  if (Object.hasOwn(map, key)) return map[key];
  for (const [k, v] of Object.entries(map)) if (authKey(k) === key) return v;
  return undefined;
}

/** Undefined when there is no config file: no credentials, as for the docker CLI. */
async function readDockerConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw invalidConfig(file, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
  }
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    // The parser's message quotes the text around the mistake, which may be a secret: it is not
    // passed on, not even as the cause.
    throw invalidConfig(file, 'is not valid JSON');
  }
  return checkShape(file, parsed);
}

/** Checks the fields credentials come from; the rest of the file is the docker CLI's business. */
function checkShape(file: string, parsed: unknown): DockerConfig {
  if (!isObject(parsed)) throw invalidConfig(file, 'is not a JSON object');
  const { auths, credHelpers, credsStore } = parsed;
  if (auths !== undefined && (!isObject(auths) || !Object.values(auths).every(isObject))) throw invalidConfig(file, 'has an "auths" that is not an object of objects');
  if (credHelpers !== undefined && (!isObject(credHelpers) || !Object.values(credHelpers).every((v) => typeof v === 'string'))) {
    throw invalidConfig(file, 'has a "credHelpers" that is not an object of strings');
  }
  if (credsStore !== undefined && typeof credsStore !== 'string') throw invalidConfig(file, 'has a "credsStore" that is not a string');
  return parsed as DockerConfig;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An `auths` entry: an identity token wins over a password, as in the engine's own token exchange. */
function fromEntry(file: string, key: string, entry: AuthEntry): RegistryAuth | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') return { kind: 'token', serverAddress: key, identityToken: entry.identitytoken };
  if (typeof entry.auth === 'string' && entry.auth !== '') return { kind: 'password', serverAddress: key, ...decodeBasic(file, key, entry.auth) };
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    return { kind: 'password', serverAddress: key, username: entry.username, password: entry.password };
  }
  return undefined;
}

/** `auth` is base64 of `user:password`; the password may itself contain colons. */
function decodeBasic(file: string, key: string, auth: string): { username: string; password: string } {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(auth) || colon <= 0) throw invalidConfig(file, `has an "auth" for ${JSON.stringify(key)} that is not base64 of "user:password"`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Asks `docker-credential-<helper> get` for the credentials of `key`, as the docker CLI does. */
async function fromHelper(file: string, helper: string, key: string): Promise<RegistryAuth | undefined> {
  if (!HELPER_NAME.test(helper)) throw invalidConfig(file, `names a credential helper ${JSON.stringify(helper)} that is not a plain program name`);
  const program = `docker-credential-${helper}`;
  const out = await runHelper(program, key);
  if (out.code !== 0) {
    if (/credentials not found/i.test(out.stdout)) return undefined;
    throw helperFailed(program, key, `exited with status ${out.code}: ${firstLine(out.stdout || out.stderr)}`);
  }
  return parseHelperAnswer(program, key, out.stdout);
}

function parseHelperAnswer(program: string, key: string, stdout: string): RegistryAuth | undefined {
  let answer: HelperAnswer;
  try {
    answer = JSON.parse(stdout) as HelperAnswer;
  } catch {
    throw helperFailed(program, key, 'answered with something that is not JSON');
  }
  if (!isObject(answer) || typeof answer.Secret !== 'string' || typeof answer.Username !== 'string') {
    throw helperFailed(program, key, 'answered without a Username and Secret');
  }
  if (answer.Secret === '') return undefined;
  if (answer.Username === TOKEN_USERNAME) return { kind: 'token', serverAddress: key, identityToken: answer.Secret };
  return { kind: 'password', serverAddress: key, username: answer.Username, password: answer.Secret };
}

interface HelperOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a helper with the server address on stdin; a missing program is a UserError, not a crash. */
function runHelper(program: string, key: string): Promise<HelperOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer rather than spawn's `timeout`, which stays armed when the program cannot be started.
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = err.code === 'ENOENT' ? 'is not installed (not found on PATH)' : `could not be run (${err.code ?? err.message})`;
      reject(helperFailed(program, key, why, err));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(helperFailed(program, key, signal === 'SIGKILL' ? `did not answer within ${HELPER_TIMEOUT_MS / 1000} s` : `was stopped by ${signal}`));
      resolve({ code: code ?? 1, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
    });
    // A helper that exits without reading stdin must not turn into an unhandled EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(key);
  });
}

/** A helper's failure output is an error message, never the secret; it is still cut to one short line. */
function firstLine(text: string): string {
  const line = text.trim().split(/\r?\n/)[0] ?? '';
  return line === '' ? 'no message' : line.slice(0, 200);
}

function invalidConfig(file: string, what: string, cause?: unknown): UserError {
  return new UserError({
    code: 'docker_config_invalid',
    kind: 'invalid',
    message: `Docker config ${file} ${what}`,
    hint: `fix ${file} by hand, or move it aside and run "docker login <registry>" to write a fresh one`,
    cause,
  });
}

function helperFailed(program: string, key: string, why: string, cause?: unknown): UserError {
  return new UserError({
    code: 'docker_credentials_unavailable',
    kind: 'unavailable',
    message: `Docker credential helper ${program} ${why} (asked for ${key})`,
    hint: `install ${program}, or remove it from "credHelpers"/"credsStore" in your Docker config and run "docker login ${key}"`,
    cause,
  });
}
