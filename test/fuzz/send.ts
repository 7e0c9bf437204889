import { request, type IncomingHttpHeaders } from 'node:http';

/** One HTTP request exactly as it goes on the wire: the path is not normalised (`..` and `%` stay). */
export interface Wire {
  method: string;
  /** Path and query, already encoded. */
  target: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Answer {
  status?: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** A stream cut off by us after `streamMs` (a followed log, say): the lines so far are judged. */
  truncated: boolean;
  /** No complete answer within `answerMs`. */
  timedOut: boolean;
  /** The connection failed (reset, refused) before an answer. */
  error?: string;
  ms: number;
}

const STREAM_TYPES = /ndjson|event-stream/;

/** Sends one request on a fresh connection; never rejects. */
export function send(base: string, wire: Wire, opts: { answerMs: number; streamMs: number }): Promise<Answer> {
  const u = new URL(base);
  const started = Date.now();
  return new Promise((resolve) => {
    let text = '';
    let status: number | undefined;
    let headers: IncomingHttpHeaders = {};
    let settled = false;
    const done = (extra: Partial<Answer>) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve({ status, headers, text, truncated: false, timedOut: false, ms: Date.now() - started, ...extra });
    };
    const deadline = setTimeout(() => done({ timedOut: true }), opts.answerMs);
    // Node frames a body only for some methods by itself; say its length, so a GET with a body is one request.
    const headers0 = wire.body === undefined ? wire.headers : { ...wire.headers, 'content-length': String(Buffer.byteLength(wire.body)) };
    const req = request({ host: u.hostname, port: u.port, method: wire.method, path: wire.target, headers: headers0, agent: false }, (res) => {
      status = res.statusCode;
      headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        // Enough to judge any answer; a huge log history need not be kept whole.
        if (text.length < 4_000_000) text += c;
      });
      res.on('end', () => done({}));
      res.on('error', (err) => done({ error: err.message }));
      if (STREAM_TYPES.test(String(res.headers['content-type']))) {
        const cut = setTimeout(() => done({ truncated: true }), opts.streamMs);
        res.on('close', () => clearTimeout(cut));
      }
    });
    req.on('error', (err) => done({ error: `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim() }));
    req.end(wire.body);
  });
}

/** A shell line that sends the same request again (the token read from $HANGAR_HOME). */
export function curlOf(base: string, wire: Wire): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const headers = Object.entries(wire.headers)
    .map(([k, v]) => (k === 'authorization' && v.startsWith('Bearer ') && v !== 'Bearer wrong-token' ? `-H "authorization: Bearer $(cat $HANGAR_HOME/token)"` : `-H ${q(`${k}: ${v.length > 200 ? `<${v.length} bytes>` : v}`)}`))
    .join(' ');
  const body = wire.body === undefined ? '' : ` --data-raw ${q(wire.body.length > 2000 ? `${wire.body.slice(0, 2000)}…<${wire.body.length} bytes in all>` : wire.body)}`;
  const target = wire.target.length > 300 ? `${wire.target.slice(0, 300)}…<${wire.target.length} chars>` : wire.target;
  return `curl -sS --path-as-is -X ${wire.method} ${headers} ${q(base + target)}${body}`;
}
