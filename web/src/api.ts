import { Store } from './store.js';

/** Whether the daemon answers: the page shows a "reconnecting" banner while it does not. */
export const connection = new Store<'online' | 'reconnecting'>('online');
/** Signed in (with the session's CSRF token), signed out, or not known yet. */
export const session = new Store<{ csrf: string } | null | undefined>(undefined);

/** An error answer, as one line: what went wrong and what to do about it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }

  /** The line the page shows. */
  line(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

const unreachable = () => new ApiError(0, 'unreachable', 'the daemon does not answer', 'it may be restarting: the page reconnects by itself');

async function errorOf(res: Response): Promise<ApiError> {
  let body: { error?: string; code?: string; hint?: string } = {};
  try {
    body = await res.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (res.status === 401) session.set(null);
  return new ApiError(res.status, body.code ?? String(res.status), body.error ?? res.statusText, body.hint);
}

/** One call to the daemon's API with the session cookie (and, when it changes something, the CSRF token). */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = session.value?.csrf ?? '';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin', cache: 'no-store' });
  } catch {
    connection.set('reconnecting');
    throw unreachable();
  }
  connection.set('online');
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const get = <T>(path: string) => api<T>('GET', path);
export const post = <T>(path: string, body?: unknown) => api<T>('POST', path, body);

/** How a followed stream ended: with its last line read (`done`), or cut off. */
export interface FollowOptions<T> {
  /** The URL to (re)open: asked again at every reconnect, so it can resume after what was seen. */
  url: () => string;
  onLine: (line: T) => void;
  /** Called when the stream ended cleanly; return true to open it again. */
  reopenAfterEnd?: () => boolean;
  /** Called when the stream is open (again), before its first line. */
  onOpen?: () => void;
}

/**
 * Follows an NDJSON stream of the API, reconnecting with backoff when the daemon goes away (while it
 * does, the connection store says "reconnecting"). Returns the function that stops following.
 */
export function follow<T>(o: FollowOptions<T>): () => void {
  const stop = new AbortController();
  let delay = 200;
  const run = async () => {
    while (!stop.signal.aborted) {
      let cut = false;
      try {
        const res = await fetch(o.url(), { credentials: 'same-origin', cache: 'no-store', signal: stop.signal });
        if (!res.ok) throw await errorOf(res);
        connection.set('online');
        delay = 200;
        o.onOpen?.();
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) o.onLine(JSON.parse(line) as T);
          }
        }
      } catch (err) {
        if (stop.signal.aborted) return;
        if (err instanceof ApiError && err.status !== 0 && err.status < 500) return;
        cut = true;
        connection.set('reconnecting');
      }
      if (!cut && !o.reopenAfterEnd?.()) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  };
  void run();
  return () => stop.abort();
}

/** Asks the daemon whether this browser is signed in, and for the session's CSRF token. */
export async function loadSession(): Promise<void> {
  try {
    session.set(await get<{ csrf: string }>('/ui/session'));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) session.set(null);
    else throw err;
  }
}
