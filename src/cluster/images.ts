import type { Readable } from 'node:stream';
import { UserError } from '../core/errors.js';
import type { HostRegistry } from './host-registry.js';
import type { NodeClient } from './node-client.js';
import { INTERNAL_ROUTES, internalPath } from './internal-paths.js';

/** Where each kind of image is asked for on another node. */
const PATHS = {
  process: (digest: string) => internalPath(INTERNAL_ROUTES.image, { digest }),
  docker: (name: string) => internalPath(INTERNAL_ROUTES.dockerImage, { name }),
};

/**
 * Where this host gets an image it lacks: from the first other live node that has it. A process image
 * by digest, from its store (the catalog checks what arrives has that digest); a Docker image by name,
 * as `docker save` from that node's engine (the catalog checks the loaded image's id).
 */
export function clusterImageSource(hosts: HostRegistry, node: NodeClient, kind: keyof typeof PATHS = 'process'): (digest: string) => Promise<Readable> {
  return async (digest) => {
    const others = (await hosts.list()).filter((h) => h.id !== hosts.host.id && h.state !== 'down');
    const problems: string[] = [];
    for (const h of others) {
      try {
        const s = await node.stream(h, PATHS[kind](digest), { timeoutMs: 10 * 60_000 });
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
