import type { Logger } from 'pino';
import { portRefusal, type PortRefusal, type ProxyListener } from './listeners.js';

/** How a dedicated port is bound: plain HTTP, or TLS (a `[[services.ports]]` with the tls handler). */
export type Bind = (port: number, app: string, tls: boolean) => Promise<ProxyListener>;

interface Dedicated {
  app: string;
  tls: boolean;
  listener?: ProxyListener;
}

/**
 * Apps' dedicated ports: each routes to its app whatever the Host header says. A port that cannot be
 * opened is remembered with why, for the routing API and `hangar status`.
 */
export class DedicatedPorts {
  /** port → app (no listener yet while the port is being opened). */
  private readonly open = new Map<number, Dedicated>();
  private readonly failed = new Map<number, { app: string; error: string }>();

  constructor(private readonly deps: { bind: Bind; ownPorts: () => number[]; log?: Logger }) {}

  /**
   * Opens now the ports of `app` that it does not hold yet, and says which could not be opened and why;
   * when one could not, none of those opened by this call stays open.
   */
  async openNow(app: string, ports: number[], tlsPorts: number[] = []): Promise<PortRefusal[]> {
    const refused: PortRefusal[] = [];
    const opened: number[] = [];
    for (const port of ports) {
      const held = this.open.get(port);
      if (held?.app === app) continue;
      if (held) refused.push({ port, reason: 'in_use', message: `the proxy serves app ${held.app} there` });
      else if (this.deps.ownPorts().includes(port)) refused.push({ port, reason: 'in_use', message: "it is the proxy's own port" });
      else {
        const refusal = await this.bindOne(app, port, tlsPorts.includes(port));
        if (refusal) refused.push(refusal);
        else opened.push(port);
      }
    }
    if (refused.length) for (const port of opened) this.close(port);
    return refused;
  }

  /**
   * Makes the app's open ports exactly `ports` (a port changing between plain and TLS is reopened);
   * resolves once every new port was tried (`failures` then says which could not be opened).
   */
  set(app: string, ports: number[], tlsPorts: number[] = []): Promise<void> {
    const binds: Array<Promise<unknown>> = [];
    for (const [port, l] of this.open) if (l.app === app && (!ports.includes(port) || l.tls !== tlsPorts.includes(port))) this.close(port);
    for (const [port, f] of this.failed) if (f.app === app && !ports.includes(port)) this.failed.delete(port);
    for (const port of ports) {
      const held = this.open.get(port);
      if (held && held.app !== app) this.failed.set(port, { app, error: `port ${port} is app ${held.app}'s` });
      if (held) continue;
      binds.push(
        this.bindOne(app, port, tlsPorts.includes(port)).then((refusal) => {
          if (refusal) this.deps.log?.error({ app, port, reason: refusal.reason, error: refusal.message }, 'could not open the dedicated port');
        }),
      );
    }
    return Promise.all(binds).then(() => undefined);
  }

  /** The app's ports that are not open because opening them failed. */
  failures(app: string): Array<{ port: number; error: string }> {
    return [...this.failed].filter(([, f]) => f.app === app).map(([port, f]) => ({ port, error: f.error }));
  }

  async closeAll(): Promise<void> {
    const all = [...this.open.values()].flatMap((d) => (d.listener ? [d.listener] : []));
    this.open.clear();
    await Promise.all(all.map((l) => l.close()));
  }

  private async bindOne(app: string, port: number, tls: boolean): Promise<PortRefusal | undefined> {
    const entry: Dedicated = { app, tls };
    this.open.set(port, entry);
    try {
      const listener = await this.deps.bind(port, app, tls);
      // Closed (or given to another app) while it was being opened.
      if (this.open.get(port) !== entry) listener.destroy();
      else entry.listener = listener;
      this.failed.delete(port);
      return undefined;
    } catch (err) {
      if (this.open.get(port) === entry) this.open.delete(port);
      const refusal = portRefusal(port, err);
      this.failed.set(port, { app, error: refusal.message });
      return refusal;
    }
  }

  private close(port: number): void {
    const l = this.open.get(port);
    this.open.delete(port);
    l?.listener?.destroy();
  }
}
