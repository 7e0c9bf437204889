import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, extname, join, sep } from 'node:path';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { kindForStatus, UserError } from '../core/errors.js';
import { HOME_FILES, readDaemonInfo, resolveHome } from '../daemon/home.js';
import { INTERNAL_ERROR_CODE, REQUEST_ID_HEADER, type ErrorBody } from '../api/contract.js';

type ErrorBodyValue = z.infer<typeof ErrorBody>;

export interface Endpoint {
  url: string;
  token: string;
  /** Where the daemon logs: its file for the local daemon, "the daemon's log on <host>" for a remote one. */
  log: string;
}

/**
 * An answer the daemon did not mean to give (a 500, or a 5xx without a UserError code): a bug in
 * hangar, not in the user's input. It carries what a report of it needs.
 */
export class DaemonBugError extends Error {
  readonly status: number;
  /** Finds the daemon log's entry for the failed request. */
  readonly requestId?: string;
  readonly log: string;
  /** The answer as it came, for --debug. */
  readonly body: string;

  constructor(opts: { status: number; message: string; requestId?: string; log: string; body: string }) {
    super(opts.message);
    this.name = 'DaemonBugError';
    this.status = opts.status;
    this.requestId = opts.requestId;
    this.log = opts.log;
    this.body = opts.body;
  }
}

export interface ClientOptions {
  /** Say things to the user (e.g. "started a daemon"); stderr by default. */
  notice?: (line: string) => void;
}

/**
 * The CLI's only way to the daemon: HTTP with the bearer token. `HANGAR_API_URL` + `HANGAR_API_TOKEN`
 * pick any daemon; otherwise the local one is found through HANGAR_HOME, and started in the background
 * when none runs.
 */
export class ApiClient {
  private endpoint?: Endpoint;

  constructor(private readonly opts: ClientOptions = {}) {}

  async get<T>(path: string): Promise<T> {
    return this.json<T>('GET', path);
  }

  async post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.json<T>('POST', path, body, headers);
  }

  async delete<T>(path: string, headers?: Record<string, string>): Promise<T> {
    return this.json<T>('DELETE', path, undefined, headers);
  }

  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.request(method, path, {
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as T;
  }

  /** Streams `body` (e.g. a directory snapshot) as the request body. */
  async upload<T>(path: string, contentType: string, body: Readable): Promise<T> {
    const res = await this.request('POST', path, { headers: { 'content-type': contentType }, body: body as unknown as RequestInit["body"], duplex: 'half' });
    return (await res.json()) as T;
  }

  /** Calls `onLine` for each NDJSON line of a streaming response, until it ends or `signal` aborts. */
  async stream(path: string, onLine: (value: unknown) => void, signal?: AbortSignal): Promise<void> {
    const res = await this.request('GET', path, { signal });
    try {
      for await (const line of ndjsonLines(res)) onLine(JSON.parse(line));
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }

  async request(method: string, path: string, init: RequestInit & { duplex?: 'half' } = {}): Promise<Response> {
    const ep = await this.resolve();
    let res: Response;
    try {
      res = await fetch(ep.url + path, { ...init, method, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${ep.token}` } });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw unreachable(ep.url, err);
    }
    if (!res.ok) throw await apiError(res, ep);
    return res;
  }

  /**
   * The error a streamed answer (a build, a push) ended with, as the CLI throws it: a DaemonBugError
   * when its code says the daemon did not expect it, else the daemon's UserError rebuilt.
   */
  streamError(body: ErrorBodyValue): Error {
    if (body.code === INTERNAL_ERROR_CODE) return new DaemonBugError({ status: 200, message: body.error, requestId: body.request_id, log: this.endpoint?.log ?? "the daemon's log", body: JSON.stringify(body) });
    return new UserError({ code: body.code, message: body.error, hint: body.hint, details: body.details });
  }

  async resolve(): Promise<Endpoint> {
    if (this.endpoint) return this.endpoint;
    const url = process.env.HANGAR_API_URL;
    if (url) {
      const token = process.env.HANGAR_API_TOKEN;
      if (!token) throw new UserError({ code: 'no_token', message: 'HANGAR_API_URL is set but HANGAR_API_TOKEN is not', hint: 'export HANGAR_API_TOKEN=<the daemon token (its $HANGAR_HOME/token)>' });
      this.endpoint = { url: url.replace(/\/$/, ''), token, log: `the daemon's log on ${hostOf(url)}` };
      return this.endpoint;
    }
    this.endpoint = await localDaemon(this.opts.notice ?? ((l) => process.stderr.write(l + '\n')));
    return this.endpoint;
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url + '/health', { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

function readToken(home: string): string {
  return readFileSync(join(home, HOME_FILES.token), 'utf8').trim();
}

async function localDaemon(notice: (l: string) => void): Promise<Endpoint> {
  const home = resolveHome();
  const info = readDaemonInfo(home);
  const log = shortPath(join(home, HOME_FILES.log));
  if (info && (await healthy(info.api))) return { url: info.api, token: readToken(home), log };
  const pid = await startDaemon(home);
  for (let i = 0; i < 300; i++) {
    const now = readDaemonInfo(home);
    if (now && now.pid === pid && (await healthy(now.api))) {
      notice(`started a hangar daemon for ${home} (pid ${pid}, API ${now.api}, proxy ${now.proxy}; log ${join(home, HOME_FILES.log)})`);
      return { url: now.api, token: readToken(home), log };
    }
    if (!isAlive(pid)) break;
    await delay(50);
  }
  const out = join(home, 'daemon.out');
  const tail = existsSync(out) ? readFileSync(out, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
  throw new UserError({ code: 'daemon_start_failed', kind: 'unavailable', message: `could not start a hangar daemon for ${home}${tail ? `: ${tail}` : ''}`, hint: `run it in the foreground to see why: hangar server --state-dir ${home}` });
}

/**
 * The CLI's entry module, next to this one: main.js when compiled, main.ts under a TypeScript loader.
 * Found from this file rather than from process.argv[1], which names whatever script the user ran (a
 * bin symlink, or a program that embeds the client).
 */
function cliEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return join(dirname(self), `main${extname(self)}`);
}

/**
 * Starts `hangar server` for HANGAR_HOME in the background, with the same node and loader as this CLI.
 * It runs in HANGAR_HOME, so a long-lived daemon does not hold on to the directory it was started from.
 */
async function startDaemon(home: string): Promise<number> {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const out = openSync(join(home, 'daemon.out'), 'a');
  const child = spawn(process.execPath, [...process.execArgv, cliEntry(), 'server', '--state-dir', home, '--port-fallback'], {
    cwd: home,
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, HANGAR_HOME: home },
  });
  child.unref();
  if (!child.pid) throw new UserError({ code: 'daemon_start_failed', kind: 'unavailable', message: 'could not spawn the hangar daemon' });
  return child.pid;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function unreachable(url: string, err: unknown): UserError {
  const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
  return new UserError({ code: 'daemon_unreachable', kind: 'unavailable', message: `cannot reach the hangar daemon at ${url} (${why})`, hint: 'is it running? check HANGAR_API_URL, or start one with: hangar server', cause: err });
}

async function apiError(res: Response, ep: Endpoint): Promise<Error> {
  const text = await res.text().catch(() => '');
  let body: Partial<ErrorBodyValue> = {};
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Partial<ErrorBodyValue>;
  } catch {
    // not JSON: a proxy in front of the daemon, or a crash mid-answer
  }
  const requestId = body.request_id ?? res.headers.get(REQUEST_ID_HEADER) ?? undefined;
  const message = body.error ?? `the daemon answered ${res.status} ${res.statusText}`;
  if (isBugAnswer(res.status, body.code)) return new DaemonBugError({ status: res.status, message, requestId, log: ep.log, body: text });
  return new UserError({ code: body.code ?? `http_${res.status}`, kind: kindForStatus(res.status), message, hint: body.hint, details: body.details });
}

/**
 * A 500 is always a bug; another 5xx is one unless it carries a UserError's code: a 503 such as
 * `docker_unavailable` is a state of the host the user can act on.
 */
function isBugAnswer(status: number, code: string | undefined): boolean {
  if (status < 500) return false;
  return status === 500 || code === undefined || code === INTERNAL_ERROR_CODE;
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** `~/.hangar/daemon.log` rather than the full path, when it is under the home directory. */
function shortPath(path: string): string {
  const home = homedir();
  return home && home !== '/' && path.startsWith(home + sep) ? `~${path.slice(home.length)}` : path;
}

/** The non-blank lines of an NDJSON response as they arrive (blank lines are keep-alives). */
export async function* ndjsonLines(res: Response): AsyncGenerator<string> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
    }
  }
  const rest = (buf + decoder.decode()).trim();
  if (rest) yield rest;
}
