import { createServer } from 'node:net';

/**
 * Hands out free loopback ports for machine instances. The OS picks a free port; ports handed out and
 * still in use are remembered so two instances never get the same one even before they bind.
 */
export class PortAllocator {
  private readonly inUse = new Set<number>();

  async allocate(): Promise<number> {
    for (let i = 0; i < 20; i++) {
      const port = await osFreePort();
      if (!this.inUse.has(port)) {
        this.inUse.add(port);
        return port;
      }
    }
    throw new Error('could not find a free port');
  }

  /** Marks a port as taken (an adopted instance's). */
  claim(port: number): void {
    this.inUse.add(port);
  }

  release(port: number | null | undefined): void {
    if (port) this.inUse.delete(port);
  }
}

function osFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
