/**
 * The proxy's listening sockets: plain HTTP/1.1, or TLS with the certificate chosen by SNI and ALPN
 * offering h2 and http/1.1 (each protocol served by its own server fed the decrypted connections), and
 * the dedicated ports of apps.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { createServer as createTlsServer, DEFAULT_CIPHERS, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { CertificateSource } from '../core/certs.js';

/** What a request arrived on: the app a dedicated port serves, and whether TLS was terminated. */
export interface Arrival {
  app?: string;
  secure: boolean;
}

/** The proxy's handlers, called for every listener. HTTP/2 requests come through the compatibility API. */
export interface ListenerHandlers {
  request(req: IncomingMessage, res: ServerResponse, at: Arrival): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, at: Arrival): void;
}

/** One bound listener and how to close it. */
export interface ProxyListener {
  port: number;
  close(): Promise<void>;
  /** Ends every connection at once (a dedicated port given up). */
  destroy(): void;
}

/** Why a dedicated port could not be opened: taken, needs privileges the daemon lacks, or anything else. */
export interface PortRefusal {
  port: number;
  reason: 'in_use' | 'privileged' | 'unavailable';
  message: string;
}

export function portRefusal(port: number, err: unknown): PortRefusal {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return { port, reason: 'in_use', message: `port ${port} is in use on this host` };
  if (code === 'EACCES' || code === 'EPERM') return { port, reason: 'privileged', message: `port ${port} needs privileges the daemon does not have` };
  return { port, reason: 'unavailable', message: `port ${port} cannot be opened: ${(err as Error).message}` };
}

/** The HTTP/1.1 server every listener hands its (decrypted) connections to. */
function http1(handlers: ListenerHandlers, at: Arrival): Server {
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5000 }, (req, res) => handlers.request(req, res, at));
  server.on('upgrade', (req, socket, head) => handlers.upgrade(req, socket as Socket, head, at));
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

/** HTTP/2 over the TLS connections that chose h2; its compatibility API looks like node:http's. */
function http2(handlers: ListenerHandlers, at: Arrival): Http2Server {
  const server = createH2Server({}, (req, res) => {
    // HTTP/2 names the host in :authority; the proxy routes on Host, as over HTTP/1.1.
    if (req.headers.host === undefined && req.authority) req.headers.host = req.authority;
    handlers.request(req as unknown as IncomingMessage, res as unknown as ServerResponse, at);
  });
  server.on('sessionError', () => undefined);
  return server;
}

async function listenOn(server: Server | TlsServer, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** A plain HTTP/1.1 listener. */
export async function listenPlain(host: string, port: number, handlers: ListenerHandlers, app?: string): Promise<ProxyListener> {
  const server = http1(handlers, { app, secure: false });
  const bound = await listenOn(server, host, port);
  return {
    port: bound,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
    destroy: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/**
 * A TLS listener. The certificate is the one `certs` has for the SNI name; a client that sends no name,
 * or one with no certificate, has its handshake refused (there is no default certificate to show it).
 */
export async function listenTls(host: string, port: number, handlers: ListenerHandlers, certs: CertificateSource, log?: Logger, app?: string): Promise<ProxyListener> {
  const at: Arrival = { app, secure: true };
  const h1 = http1(handlers, at);
  const h2 = http2(handlers, at);
  const sockets = new Set<TLSSocket>();
  const server = createTlsServer({
    // As node:http does for its own sockets: a response is not held back waiting for an ACK (Nagle).
    noDelay: true,
    ciphers: ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', DEFAULT_CIPHERS].join(':'),
    honorCipherOrder: true,
    ALPNProtocols: ['h2', 'http/1.1'],
    SNICallback: (name, cb) => {
      const ctx = certs.contextFor(name.toLowerCase());
      // No context: the handshake goes on with the listener's own, which has no certificate, and the
      // client gets a handshake_failure alert (as without SNI), not a silently closed connection.
      cb(null, ctx);
    },
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else h1.emit('connection', socket);
  });
  // A refused handshake (no SNI, an unknown name, a client speaking plain HTTP) is the client's problem.
  server.on('tlsClientError', (err) => log?.debug({ err }, 'TLS handshake refused'));
  const bound = await listenOn(server, host, port);
  const destroy = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return {
    port: bound,
    close: () => {
      h1.closeAllConnections();
      return new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      });
    },
    destroy,
  };
}
