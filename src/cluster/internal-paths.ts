/**
 * The node-to-node API, named once: the routes other nodes call (served in api/routes/internal.ts)
 * and the header that proves a call comes from a node of the cluster.
 */
export const CLUSTER_TOKEN_HEADER = 'hangar-cluster-token';

export const INTERNAL_ROUTES = {
  /** A machine operation for the host's own machine (cluster/machines.ts). */
  machineOp: '/internal/v1/machine-op',
  /** The node's own log lines of an app. */
  logs: '/internal/v1/apps/:app/logs',
  /** A control for a deploy the node runs. */
  deployControl: '/internal/v1/deploy-control',
  /** The node's proxy window sums for some scopes. */
  windows: '/internal/v1/metrics/windows',
  /** A process image the node stores, by digest. */
  image: '/internal/v1/images/:digest',
  /** A Docker image from the host's engine, as a `docker save` tar. */
  dockerImage: '/internal/v1/docker-images/:name',
} as const;

/** A route with its `:params` filled in (encoded). */
export function internalPath(route: string, params: Record<string, string> = {}): string {
  return route.replace(/:([a-z]+)/g, (_m, name: string) => {
    const v = params[name];
    if (v === undefined) throw new Error(`internalPath: no value for :${name} in ${route}`);
    return encodeURIComponent(v);
  });
}
