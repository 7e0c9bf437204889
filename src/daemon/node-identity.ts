import { availableParallelism, hostname, totalmem } from 'node:os';
import { isIP } from 'node:net';
import { UserError } from '../core/errors.js';
import type { RuntimeKind } from '../core/types.js';
import type { NodeIdentity } from '../cluster/host-registry.js';
import type { ListenAddress } from './listen.js';

/** Host names and regions: lowercase letters, digits and dashes, as Fly's region codes and DNS labels. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The region of a node started without --region (as machines' default region was before hosts). */
export const DEFAULT_REGION = 'local';

/**
 * What this node announces about its host. The advertised address defaults to the API's listen address;
 * a wildcard listen address cannot be reached as such, so a cluster node must then say which address
 * the other hosts use.
 */
export function nodeIdentity(o: {
  opts?: Partial<Pick<NodeIdentity, 'name' | 'region' | 'address'>>;
  listen: ListenAddress;
  proxy: ListenAddress;
  runtimes: RuntimeKind[];
  version: string;
  clustered: boolean;
}): NodeIdentity {
  const name = o.opts?.name ?? hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 63);
  const region = o.opts?.region ?? DEFAULT_REGION;
  if (!LABEL.test(name)) throw invalid('--host-name', name);
  if (!LABEL.test(region)) throw invalid('--region', region);
  const address = o.opts?.address ?? o.listen.host;
  if (isIP(address) === 0) throw new UserError({ code: 'invalid_advertise', message: `--advertise ${JSON.stringify(address)} is not an IP address`, hint: 'give the address other hosts reach this one at, e.g. --advertise 10.0.0.5' });
  if (o.clustered && (address === '0.0.0.0' || address === '::')) {
    throw new UserError({ code: 'advertise_required', message: `--listen ${address} is every address: other nodes need to know which one reaches this host`, hint: 'add --advertise ADDRESS (an address of this host the other hosts can reach)' });
  }
  return {
    name,
    region,
    address,
    apiPort: o.listen.port,
    proxyPort: o.proxy.port,
    cpus: availableParallelism(),
    memoryMb: Math.round(totalmem() / 2 ** 20),
    runtimes: o.runtimes,
    version: o.version,
  };
}

function invalid(flag: string, value: string): UserError {
  return new UserError({ code: 'invalid_host', message: `${flag} ${JSON.stringify(value)} must be lowercase letters, digits and dashes (up to 63)`, hint: `e.g. ${flag === '--region' ? '--region fra' : '--host-name fra-1'}` });
}
