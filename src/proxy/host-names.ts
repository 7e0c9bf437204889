/**
 * Which app a Host header (without port, lower case) names: one of the apps' configured hostnames, else
 * `<app>.localhost`.
 */
export function appForHost(hostnames: ReadonlyMap<string, string>, host: string): string | undefined {
  const named = hostnames.get(host);
  if (named) return named;
  const m = /^([a-z][a-z0-9-]*)\.localhost$/.exec(host);
  return m?.[1];
}
