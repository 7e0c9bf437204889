/**
 * Test helpers for src/health: real servers on port 0 that count what they see, and a recorder for
 * `HealthChange` events. Every wait is "until this happens, or fail after N ms"; nothing sleeps.
 */
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import type { CheckSpec } from './specs.js';
import type { HealthChange } from './state.js';

/** Wakes waiters whenever something they may be waiting for has happened. */
class Notifier {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const fn of [...this.listeners]) fn();
  }

  /** Resolves with the first non-undefined `probe()` result, re-probing after every `notify()`. */
  until<T>(probe: () => T | undefined, ms: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms}ms waiting for ${what}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
  }
}

export interface TestServer {
  port: number;
  /** `METHOD path` of every request received, in order. */
  requests: string[];
  /** Connections currently open on the server side. */
  openConnections(): number;
  /** Resolves once `pred()` holds, re-checking on every request and every connection open/close. */
  waitFor(pred: () => boolean, ms: number, what: string): Promise<void>;
}

/** Any server that listens on 127.0.0.1:0 and can be closed. */
async function listenCounted(
  t: TestContext,
  server: net.Server,
): Promise<{ port: number; open: Set<net.Socket>; changed: Notifier }> {
  const open = new Set<net.Socket>();
  const changed = new Notifier();
  server.on('connection', (socket: net.Socket) => {
    open.add(socket);
    changed.notify();
    socket.on('close', () => {
      open.delete(socket);
      changed.notify();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, open, changed };
}

/** An HTTP server on 127.0.0.1:0, closed (with its connections) when the test ends. */
export async function startHttpServer(t: TestContext, handler: http.RequestListener): Promise<TestServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  const { port, open, changed } = await listenCounted(t, server);
  server.on('request', () => changed.notify());
  return {
    port,
    requests,
    openConnections: () => open.size,
    waitFor: async (pred, ms, what) => {
      await changed.until(() => (pred() ? true : undefined), ms, what);
    },
  };
}

/** A bare TCP server that accepts and immediately closes connections. */
export async function startTcpServer(t: TestContext): Promise<{ port: number; accepted: () => number }> {
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    socket.end();
  });
  const { port } = await listenCounted(t, server);
  return { port, accepted: () => accepted };
}

/** A port nothing listens on: bound, then released. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Records every `HealthChange`; `next` consumes them in order so an early event is never missed. */
export class ChangeRecorder {
  readonly events: HealthChange[] = [];
  private cursor = 0;
  private readonly changed = new Notifier();

  readonly onChange = (change: HealthChange): void => {
    this.events.push(change);
    this.changed.notify();
  };

  /** The next unconsumed event matching `pred` (skipping the ones before it), or a rejection after `ms`. */
  next(pred: (e: HealthChange) => boolean, ms = 2000, what = 'a matching health change'): Promise<HealthChange> {
    return this.changed.until(
      () => {
        while (this.cursor < this.events.length) {
          const e = this.events[this.cursor++]!;
          if (pred(e)) return e;
        }
        return undefined;
      },
      ms,
      what,
    );
  }
}

/** A spec with fast timings for tests; override what the test is about. */
export function testSpec(over: Partial<CheckSpec> & Pick<CheckSpec, 'port'>): CheckSpec {
  return {
    name: 'check',
    type: 'http',
    intervalMs: 20,
    timeoutMs: 500,
    gracePeriodMs: 5,
    method: 'GET',
    path: '/',
    protocol: 'http',
    headers: {},
    gatesRouting: true,
    ...over,
  };
}
