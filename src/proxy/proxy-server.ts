import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The proxy's listener. It owns `--proxy-listen` from the daemon's first start so the address is
 * reserved (and a port conflict is reported at start); routing to machines plugs in through `handler`.
 */
export class ProxyServer {
  private server?: Server;

  constructor(private handler: Parameters<typeof createServer>[1] = defaultHandler) {}

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer(this.handler);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    return { host, port: addr.port };
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function defaultHandler(_req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
  res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('hangar proxy: routing is not enabled on this daemon yet; reach a machine at the address `hangar machines list` shows\n');
}
