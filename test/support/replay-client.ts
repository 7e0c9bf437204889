import { request } from 'node:http';

/** What a request through the proxy to the replay app got back. */
export interface ReplayAnswer {
  status: number;
  text: string;
  machine?: string;
  ms: number;
  /** The replay app's JSON answer (undefined when the proxy answered itself). */
  json?: { machine: string; region: string; app: string; method: string; bodyBytes: number; bodySha: string; replaySrc: string | null; forced: string | null };
}

/** A path asking the replay app to answer with `fly-replay: <replay>`. */
export const replayPath = (replay: string, extra = '') => `/?replay=${encodeURIComponent(replay)}${extra}`;

/**
 * One request to `app` through the proxy at `to`; `body` as an array is sent chunked (no
 * Content-Length), and `between` is awaited after its first chunk. Rejects on a connection error.
 */
export function sendReplay(
  to: { host: string; port: number | string },
  app: string,
  path: string,
  o: { headers?: Record<string, string>; method?: string; body?: Buffer | Buffer[]; between?: () => Promise<void>; timeoutMs?: number } = {},
): Promise<ReplayAnswer> {
  const t0 = Date.now();
  const headers: Record<string, string> = { host: `${app}.localhost`, ...o.headers };
  if (Buffer.isBuffer(o.body)) headers['content-length'] = String(o.body.length);
  return new Promise((resolve, reject) => {
    const req = request({ host: to.host, port: to.port, path, method: o.method ?? 'GET', headers, agent: false, timeout: o.timeoutMs }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        const json = String(res.headers['content-type']).startsWith('application/json') ? (JSON.parse(text) as ReplayAnswer['json']) : undefined;
        resolve({ status: res.statusCode ?? 0, text, machine: res.headers['hangar-machine'] as string | undefined, ms: Date.now() - t0, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (Buffer.isBuffer(o.body) || !o.body) return void req.end(o.body);
    const [first, ...rest] = o.body;
    req.write(first);
    void (o.between?.() ?? Promise.resolve()).then(() => {
      for (const c of rest) req.write(c);
      req.end();
    }, reject);
  });
}
