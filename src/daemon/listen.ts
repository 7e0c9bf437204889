import { createServer } from 'node:net';
import { UserError } from '../core/errors.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `HOST:PORT`, `:PORT`, `PORT` or `[::1]:PORT`. */
export function parseListen(value: string, flag: string): ListenAddress {
  const v = value.trim();
  let host = '127.0.0.1';
  let portText = v;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]*):(\d+)$/.exec(v);
  if (m) {
    host = m[1] || host;
    portText = m[2]!;
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) {
    throw new UserError({ code: 'invalid_listen', message: `${flag} ${JSON.stringify(value)} is not HOST:PORT`, hint: `e.g. ${flag} 127.0.0.1:4280` });
  }
  return { host, port };
}

export function formatUrl(a: ListenAddress): string {
  return `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** Turns a bind failure into one line a user can act on. */
export function listenError(err: unknown, a: ListenAddress, flag: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new UserError({ code: 'address_in_use', kind: 'conflict', message: `cannot listen on ${a.host}:${a.port}: address already in use`, hint: `pick another address with ${flag}` });
  }
  if (code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    return new UserError({ code: 'address_unavailable', kind: 'unavailable', message: `cannot listen on ${a.host}:${a.port}: ${code}`, hint: `pick another address with ${flag}` });
  }
  return err as Error;
}

/** Listens at `addr`; when it is taken and `fallback` is set, on a free port instead (else one line naming `flag`). */
export async function bind(addr: ListenAddress, fallback: boolean | undefined, flag: string, listen: (a: ListenAddress) => Promise<ListenAddress>): Promise<ListenAddress> {
  try {
    return await listen(addr);
  } catch (err) {
    if (fallback && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') return listen({ host: addr.host, port: 0 });
    throw listenError(err, addr, flag);
  }
}

/** Binds and releases an address, so a taken one fails before anything starts and port 0 becomes a real port. */
export function probe(a: ListenAddress): Promise<ListenAddress> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(a.port, a.host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve({ host: a.host, port }));
    });
  });
}
