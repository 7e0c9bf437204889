import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Held } from './permits.js';
import type { RoutingTable } from './routing-table.js';

/**
 * Passes an upgraded connection (WebSocket) through to `b`: the request head is written to the machine
 * as is, with `headers`, and from then on bytes flow both ways until either side closes. The exchange
 * counts as in flight on `b` for as long as it stays open.
 */
export function pipeUpgrade(req: IncomingMessage, client: Socket, head: Buffer, held: Held, headers: Record<string, string | string[]>, table: RoutingTable): void {
  const { b } = held;
  table.acquire(b);
  let released = false;
  const release = () => {
    if (!released) {
      released = true;
      table.release(b);
      held.done();
    }
  };
  const up = connect(b.port, b.host, () => {
    let head0 = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) for (const val of Array.isArray(v) ? v : [v]) head0 += `${k}: ${val}\r\n`;
    up.write(head0 + '\r\n');
    if (head.length) up.write(head);
    up.pipe(client);
    client.pipe(up);
  });
  const close = () => {
    release();
    up.destroy();
    client.destroy();
  };
  up.on('error', close);
  up.on('close', close);
  client.on('error', close);
  client.on('close', close);
}
