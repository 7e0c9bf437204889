/**
 * The certificate store (`hangar certs`): each app's hostnames with their TLS certificates, ordered
 * and renewed from an ACME CA through HTTP-01 (acme-client), or imported. `CertService` is the
 * proxy's CertificateSource (core/certs.ts): TLS contexts and hostnames' apps from memory, challenge
 * answers from the shared database. Private keys are sealed by the secrets key (secrets/vault.ts).
 */
export { CertService, type CertServiceDeps } from './cert-service.js';
export { AcmeIssuer, OrderAborted, OrderError, type ChallengeBoard, type IssuedCert, type Issuer } from './acme-issuer.js';
export { normalizeHostname } from './hostname.js';
export { DEFAULT_CHECK_INTERVAL_MS, DEFAULT_RENEW_BEFORE_MS, DEFAULT_RETRY_DELAYS_MS } from './schedule.js';
export type { Sealer } from './sealing.js';
export type { CertificateInfo, DnsRecord } from './views.js';
