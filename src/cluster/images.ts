import type { Readable } from 'node:stream';
import { UserError } from '../core/errors.js';
import type { HostRegistry } from './host-registry.js';
import type { NodeClient } from './node-client.js';

/**
 * Where this host gets a process image it lacks: from the first other ready node that stores it,
 * by digest (the catalog checks that what arrives has that digest).
 */
export function clusterImageSource(hosts: HostRegistry, node: NodeClient): (digest: string) => Promise<Readable> {
  return async (digest) => {
    const others = (await hosts.list()).filter((h) => h.id !== hosts.host.id && h.state !== 'down');
    const problems: string[] = [];
    for (const h of others) {
      try {
        const s = await node.stream(h, `/internal/v1/images/${encodeURIComponent(digest)}`, { timeoutMs: 10 * 60_000 });
        if (s) return s;
      } catch (err) {
        problems.push(`${h.name}: ${(err as Error).message}`);
      }
    }
    throw new UserError({
      code: 'image_unavailable',
      kind: 'unavailable',
      message: `image ${digest} is not on this host (${hosts.host.name}) and no other node could send it${problems.length ? ` (${problems.join('; ')})` : ''}`,
      hint: 'deploy again through a node that has the image, or upload it again',
    });
  };
}
