import type { Logger } from 'pino';
import type { ClusterMachines } from '../cluster/machines.js';
import type { HostRegistry } from '../cluster/host-registry.js';
import { INTERNAL_ROUTES } from '../cluster/internal-paths.js';
import type { NodeClient } from '../cluster/node-client.js';
import type { ClusterSync } from '../cluster/sync.js';
import type { Deployment } from '../core/deploy.js';
import { parseDuration } from '../core/duration.js';
import { UserError } from '../core/errors.js';
import type { TrafficWindows } from '../core/window-stats.js';
import { DeployService } from '../deploy/deploy-service.js';
import type { ImageCatalog } from '../images/catalog.js';
import type { LogCollector } from '../logs/collector.js';
import type { PlatformLog } from '../logs/platform.js';
import { ReleaseCommandDriver } from '../logs/release-watch.js';
import type { AppService } from '../machines/app-service.js';
import type { LeaseService } from '../machines/leases.js';
import type { MachineLifecycle } from '../machines/lifecycle.js';
import type { EngineClient } from '../runtime/docker/engine.js';
import type { SecretVault } from '../secrets/index.js';
import type { State } from '../state/index.js';
import { waitForEngine } from './docker-runtime.js';
import { formatUrl, type ListenAddress } from './listen.js';
import type { Routing } from './routing.js';

/** What the daemon's deploy service is wired to. */
export interface DeployWiring {
  state: State;
  machines: ClusterMachines;
  images: ImageCatalog;
  leases: LeaseService;
  vault: SecretVault;
  routing: Routing;
  lifecycle: MachineLifecycle;
  platform: PlatformLog;
  engine?: EngineClient;
  logs: LogCollector;
  log: Logger;
  apps: AppService;
  windows: TrafficWindows;
  hosts: HostRegistry;
  node?: NodeClient;
  clustered: boolean;
  /** Where the proxy listens (known once it is bound). */
  proxyAddress: () => ListenAddress;
  /** The cluster's change feed, once it runs (never on one host). */
  sync: () => ClusterSync | undefined;
}

/**
 * The deploy service of a daemon: readiness through this host's monitor or the machine's own node,
 * the release command's lines in the logs, traffic through the proxy's windows (every node's in a
 * cluster), and controls of a deploy another node runs sent on to it.
 */
export function deployService(w: DeployWiring): DeployService {
  const node = w.node;
  return new DeployService({
    state: w.state,
    machines: w.machines,
    images: w.images,
    leases: w.leases,
    secrets: w.vault,
    readiness: {
      waitReady: (m, ref, port, exited, o) => w.routing.waitReady(m, ref, port, exited, o),
      // Another host's machine is waited for by its own node, which also sees it exit.
      waitHealthy: (m, exited, o) => (w.machines.isLocal(m) ? w.routing.waitHealthy(m, exited, o) : w.machines.waitHealthy(m, o)),
      exitOf: (m) => (w.machines.isLocal(m) ? w.lifecycle.exitOf(m) : new Promise(() => {})),
      allPassing: (id) => (w.sync()?.checksOf(id) ?? w.routing.checksOf(id)).every((c) => c.status === 'passing'),
    },
    // Deploys use a driver only for the release command, so its starts and exits are release-command lines.
    driverFor: (kind) => new ReleaseCommandDriver(w.lifecycle.driver(kind), w.platform),
    runtimeBack: (_kind, ms, signal) => (w.engine ? waitForEngine(w.engine, ms, signal) : Promise.resolve(false)),
    logs: w.logs,
    log: w.log,
    traffic: {
      setTraffic: async (app, t) => void (await w.apps.setRouting(app, { sets: t.sets, pins: t.pins })),
      windows: (scopes, ms) => w.windows.windows(scopes, ms),
      idleFor: (app, id) => w.routing.table.idleFor(app, id),
    },
    claims: {
      self: () => w.hosts.host.id,
      claimMs: parseDuration(process.env.HANGAR_DEPLOY_CLAIM) ?? (w.clustered ? 6000 : 60_000),
      forwardControl: node
        ? async (d, c) => {
            const h = d.runner ? w.hosts.cached(d.runner) : undefined;
            if (!h) throw new UserError({ code: 'deployment_not_running', kind: 'conflict', message: `deployment ${d.id} is run by host ${d.runner}, which is not in the cluster`, hint: 'see hangar deployments status' });
            return node.call<Deployment>(h, INTERNAL_ROUTES.deployControl, { id: d.id, control: c });
          }
        : undefined,
    },
    appUrl: (app) => {
      const at = w.proxyAddress();
      return formatUrl({ host: at.host === '127.0.0.1' ? `${app}.localhost` : at.host, port: at.port });
    },
  });
}
