import { Readable } from 'node:stream';
import { kindForStatus, UserError } from '../core/errors.js';
import type { Host } from '../core/types.js';

import { CLUSTER_TOKEN_HEADER } from './internal-paths.js';

/** What a node needs to call another: the shared API token and the cluster secret. */
export interface NodeAuth {
  apiToken: string;
  clusterToken: string;
}

/**
 * Calls another node's internal API. The answer of the other node is this node's answer: a UserError
 * there is the same UserError here (code, message, hint, status); a node that does not answer is a
 * `host_unreachable` error naming the host.
 */
export class NodeClient {
  constructor(private readonly auth: NodeAuth) {}

  async call<T>(host: Host, path: string, body: unknown, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.request(host, path, { method: 'POST', body: JSON.stringify(body ?? {}), headers: { 'content-type': 'application/json' } }, opts);
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw remoteError(res.status, json, host);
    return json as T;
  }

  /** A streamed GET: the body when the other node answers 200, undefined on its 404. */
  async stream(host: Host, path: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Readable | undefined> {
    const res = await this.request(host, path, { method: 'GET' }, opts);
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok || !res.body) throw remoteError(res.status, (await res.json().catch(() => undefined)) as Parameters<typeof remoteError>[1], host);
    return Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  }

  private async request(host: Host, path: string, init: RequestInit, opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<Response> {
    const signals = [AbortSignal.timeout(opts.timeoutMs ?? 60_000), ...(opts.signal ? [opts.signal] : [])];
    const url = `http://${host.address.includes(':') ? `[${host.address}]` : host.address}:${host.apiPort}${path}`;
    try {
      return await fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.auth.apiToken}`, [CLUSTER_TOKEN_HEADER]: this.auth.clusterToken },
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      throw new UserError({
        code: 'host_unreachable',
        kind: 'unavailable',
        message: `host ${host.name} (${host.address}:${host.apiPort}) does not answer: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`,
        hint: 'check that its node runs (hangar hosts list) and that this host can reach it',
        cause: err,
      });
    }
  }
}

function remoteError(status: number, body: { error?: string; code?: string; hint?: string; details?: [] } | undefined, host: Host): Error {
  if (status >= 500 && status !== 503) return new Error(`host ${host.name} failed the call: ${status} ${body?.error ?? ''}`.trim());
  return new UserError({ code: body?.code ?? 'remote_error', kind: kindForStatus(status), message: body?.error ?? `host ${host.name} answered ${status}`, hint: body?.hint, details: body?.details });
}
