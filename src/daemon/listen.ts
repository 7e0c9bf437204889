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
