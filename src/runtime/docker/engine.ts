import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';

/**
 * A deliberately tiny Docker Engine API client over node:http: JSON requests, raw streaming responses
 * (logs, wait, build) and a ping. Paths are unversioned so the engine answers with its own API version;
 * every field hangar reads has been stable since API 1.25.
 */

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** Where the engine listens: a unix socket, or a TCP port on loopback (never a remote host). */
export type EngineEndpoint = { kind: 'unix'; socketPath: string } | { kind: 'tcp'; host: '127.0.0.1'; port: number };

/**
 * Parses `DOCKER_HOST` once, at the edge. Unset means the default socket; `unix://PATH` and
 * `tcp://127.0.0.1:PORT` are accepted; anything else (a remote host, TLS, ssh) is rejected rather than
 * silently ignored.
 */
export function engineEndpoint(dockerHost: string | undefined = process.env.DOCKER_HOST): EngineEndpoint {
  if (dockerHost === undefined || dockerHost === '') return { kind: 'unix', socketPath: DEFAULT_DOCKER_SOCKET };
  const unix = /^unix:\/\/(\/.+)$/.exec(dockerHost);
  if (unix) return { kind: 'unix', socketPath: unix[1]! };
  const tcp = /^tcp:\/\/127\.0\.0\.1:(\d{1,5})\/?$/.exec(dockerHost);
  if (tcp && Number(tcp[1]) > 0 && Number(tcp[1]) < 65536) return { kind: 'tcp', host: '127.0.0.1', port: Number(tcp[1]) };
  throw new UserError({
    code: 'docker_host_unsupported',
    message: `DOCKER_HOST ${JSON.stringify(dockerHost)} is not supported`,
    hint: 'use unix:///path/to/docker.sock or tcp://127.0.0.1:PORT, or unset DOCKER_HOST for /var/run/docker.sock',
    details: [{ path: 'DOCKER_HOST', message: 'only unix:// and tcp://127.0.0.1 are supported', value: dockerHost }],
  });
}

export function describeEndpoint(ep: EngineEndpoint): string {
  return ep.kind === 'unix' ? `unix://${ep.socketPath}` : `tcp://${ep.host}:${ep.port}`;
}

/** A non-2xx answer from the engine. `status` lets callers treat 404/304/409 as the states they are. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    /** The engine's own message, as it sent it. */
    readonly engineMessage: string,
    readonly path: string,
  ) {
    super(`docker engine: ${engineMessage} (HTTP ${status} on ${path})`);
    this.name = 'EngineError';
  }
}

export function isEngineStatus(err: unknown, ...statuses: number[]): boolean {
  return err instanceof EngineError && statuses.includes(err.status);
}

/**
 * Socket errors that mean no engine answered: nothing listens, the socket is not ours to use, or the
 * connection was cut before an answer came (an engine going away). Anything the engine does answer,
 * however unwelcome (a 404 for an image it does not have), is an EngineError instead.
 */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK', 'EPERM', 'ECONNRESET', 'EPIPE']);

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  /**
   * JSON-encoded unless it is a Buffer (sent as-is with `contentType`) or a Readable (streamed,
   * chunked, so a large build context is never held in memory).
   */
  body?: unknown;
  contentType?: string;
  /** Extra request headers (e.g. `X-Registry-Auth`). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** For requests that are not long-lived streams. */
  timeoutMs?: number;
  /** Long-lived streams must not keep the daemon's event loop alive (instances outlive the daemon). */
  unref?: boolean;
}

export class EngineClient {
  readonly endpoint: EngineEndpoint;

  constructor(endpoint: EngineEndpoint = engineEndpoint()) {
    this.endpoint = endpoint;
  }

  /** True when an engine answers `GET /_ping` within `timeoutMs`. */
  async ping(timeoutMs = 2000): Promise<boolean> {
    try {
      const body = await this.text('GET', '/_ping', { timeoutMs });
      return body.trim() === 'OK';
    } catch {
      return false;
    }
  }

  /** Sends a request and parses a JSON answer (undefined for an empty body, e.g. 204). */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const text = await this.text(method, path, opts);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  async text(method: string, path: string, opts: RequestOptions = {}): Promise<string> {
    const res = await this.stream(method, path, opts);
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Resolves with the response once its status is 2xx; rejects with an EngineError otherwise. */
  stream(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const fullPath = path + queryString(opts.query);
    const streamed = opts.body instanceof Readable ? opts.body : undefined;
    const payload = opts.body === undefined || streamed ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(JSON.stringify(opts.body));
    const target = this.endpoint.kind === 'unix' ? { socketPath: this.endpoint.socketPath } : { host: this.endpoint.host, port: this.endpoint.port };
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({
        ...target,
        method,
        path: fullPath,
        agent: false,
        signal: opts.signal,
        timeout: opts.timeoutMs,
        headers: {
          ...opts.headers,
          ...(payload ? { 'content-type': opts.contentType ?? 'application/json', 'content-length': payload.length } : {}),
          ...(streamed ? { 'content-type': opts.contentType ?? 'application/octet-stream' } : {}),
          host: 'docker',
        },
      });
      if (opts.unref) req.on('socket', (s) => s.unref());
      // An engine that does not answer in time is as unavailable as one that is not there.
      req.on('timeout', () => req.destroy(dockerUnavailable(this.endpoint, `no answer to ${method} ${path} within ${opts.timeoutMs} ms`)));
      let bodyError: Error | undefined;
      // A file that could not be read is not an unreachable engine, whatever its errno says.
      req.on('error', (err) => reject(err === bodyError ? err : this.translate(err as NodeJS.ErrnoException)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) return resolve(res);
        readAll(res).then(
          (body) => reject(new EngineError(status, errorMessage(body), `${method} ${path}`)),
          (err: Error) => reject(err),
        );
      });
      if (streamed) {
        streamed.on('error', (err) => {
          bodyError = err;
          req.destroy(err);
        });
        streamed.pipe(req);
      } else req.end(payload);
    });
  }

  private translate(err: NodeJS.ErrnoException): Error {
    if (!err.code || !UNREACHABLE.has(err.code)) return err;
    return dockerUnavailable(this.endpoint, err.code);
  }
}

/** The UserError for "no engine answers here". */
export function dockerUnavailable(ep: EngineEndpoint, reason: string): UserError {
  return new UserError({
    code: 'docker_unavailable',
    kind: 'unavailable',
    message: `no Docker Engine answers at ${describeEndpoint(ep)} (${reason})`,
    hint: 'start one with "dockerd --bridge=none" (install it with "apt-get install docker.io"), or point DOCKER_HOST at a running engine',
  });
}

function queryString(q: RequestOptions['query']): string {
  if (!q) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function errorMessage(body: string): string {
  try {
    const m = (JSON.parse(body) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON: use the text
  }
  return body.trim() || 'no message';
}
