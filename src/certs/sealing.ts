/**
 * How the certificate store keeps private keys: sealed by the daemon's secrets key (SecretVault's
 * `seal`/`unseal`), each bound to what it is the key of, so a sealed key copied to another row does
 * not open there.
 */
export interface Sealer {
  seal(value: string, context: string): Promise<{ sealed: string; keyId: string }>;
  unseal(sealed: string, context: string): Promise<string>;
}

/** The context a certificate's private key is sealed under: its app (by id) and hostname. */
export function tlsKeyContext(appId: string, hostname: string): string {
  return `tls-key:${appId}:${hostname}`;
}

/** The context an ACME account key is sealed under: the CA directory it is registered with. */
export function accountKeyContext(directoryUrl: string): string {
  return `acme-account:${directoryUrl}`;
}
