/**
 * A TLS certificate of an app's hostname, as the certificate store keeps it. `pending`: no certificate
 * yet (an ACME order is due or being retried); `issued`: one serves (an ACME one is renewed before it
 * expires); `failed`: the CA refused the hostname itself, so no retry can help until the user adds it
 * again. `acme` certificates are ordered and renewed by hangar; `imported` ones are the user's, never renewed.
 */
export const CERT_STATUSES = ['pending', 'issued', 'failed'] as const;
export type CertStatus = (typeof CERT_STATUSES)[number];

export const CERT_SOURCES = ['acme', 'imported'] as const;
export type CertSource = (typeof CERT_SOURCES)[number];

/** One certificate row. Times in ms since the epoch; the private key only sealed (see secrets/vault.ts). */
export interface StoredCertificate {
  hostname: string;
  appId: string;
  appName: string;
  status: CertStatus;
  source: CertSource;
  /** The certificate followed by its intermediates, PEM. */
  certPem: string | null;
  keySealed: string | null;
  /** The id of the key `keySealed` is sealed with. */
  keyId: string | null;
  issuer: string | null;
  serial: string | null;
  notBefore: number | null;
  notAfter: number | null;
  /** Why the last order failed (the CA's words), cleared by a success. */
  lastError: string | null;
  /** Failed orders in a row: the backoff step. */
  attempts: number;
  /** When a node should next order it (a new certificate, a retry or a renewal); null: never. */
  nextAttemptAt: number | null;
  /** The node ordering it now, and until when its claim holds without renewal. */
  claimedBy: string | null;
  claimedUntil: number | null;
  /** Goes up with every change of what is served or routed, so a node's cache can tell it is behind. */
  revision: number;
  createdAt: string;
  updatedAt: string;
}
