/**
 * What the proxy asks of the certificate store when it terminates TLS and answers ACME challenges.
 * The store (certs/) keeps every certificate in memory, so the handshake never waits on the database.
 */
import type { SecureContext } from 'node:tls';

export interface CertificateSource {
  /**
   * The TLS context for the name a client asked for by SNI (a hostname, lower case), or undefined when
   * there is no usable certificate for it: the handshake is then refused.
   */
  contextFor(servername: string): SecureContext | undefined;
  /** The key authorization answering an ACME HTTP-01 challenge token, or undefined (a 404). */
  challenge(token: string): Promise<string | undefined>;
  /** The app a certificate's hostname routes to (hostnames added with `hangar certs add`). */
  appFor(hostname: string): string | undefined;
}
