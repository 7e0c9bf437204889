import type { Logger } from 'pino';
import { CertService } from '../certs/index.js';
import type { HostRegistry } from '../cluster/host-registry.js';
import type { SecretVault } from '../secrets/index.js';
import { PgFeed } from '../state/feed.js';
import type { State } from '../state/index.js';
import { envCertTiming } from './env.js';

/** Let's Encrypt's production directory: where certificates come from unless `--acme-directory` says otherwise. */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

/**
 * The node's certificate store: orders from the ACME CA the daemon was given, tells the user to point
 * DNS at the hosts' addresses, and in a cluster hears of other nodes' certificates on a feed of its own.
 */
export function certStore(o: {
  state: State;
  vault: SecretVault;
  log: Logger;
  acme?: { directoryUrl?: string; caFile?: string; email?: string };
  hosts: HostRegistry;
  /** The cluster's database URL (absent on one host). */
  database?: string;
  onEvent: (app: string, message: string, level: 'info' | 'warn') => void;
  onCacheChange: () => void;
}): CertService {
  const { hosts, log } = o;
  return new CertService({
    state: o.state,
    vault: o.vault,
    log,
    acme: { directoryUrl: o.acme?.directoryUrl ?? DEFAULT_ACME_DIRECTORY, caFile: o.acme?.caFile, email: o.acme?.email },
    dnsTargets: () => [...new Set([hosts.host.address, ...hosts.known().map((h) => h.address)])],
    onEvent: o.onEvent,
    onCacheChange: o.onCacheChange,
    // Read when the service starts, once this node has registered its host.
    get nodeId() {
      return hosts.host.id;
    },
    feed: o.database ? new PgFeed({ db: o.state.db, url: o.database, hostId: () => hosts.host.id, onError: (err) => log.warn({ err }, 'certificate change feed') }) : undefined,
    ...envCertTiming(),
  });
}
