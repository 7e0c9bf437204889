/** Default listen ports, in their own module so the CLI can name them without loading the daemon. */
export const DEFAULT_API_PORT = 4280;
export const DEFAULT_PROXY_PORT = 4080;
/** The proxy's TLS listener: what the `443` of `[http_service]` is on this host. */
export const DEFAULT_PROXY_TLS_PORT = 4443;
