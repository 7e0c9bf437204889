/**
 * App secrets (`hangar secrets`): values sealed with AES-256-GCM under the daemon's key file
 * (`HANGAR_HOME/secrets.key`), opened only to become a starting instance's or a release command's
 * environment, and listed by name and digest only. `SecretVault` stores and opens them (the machine
 * lifecycle's SecretsProvider); `SecretsService` validates a change and rolls it out as a new release.
 */
export { appDigest, SecretsKey, shortDigest } from './crypto.js';
export { KEY_FILE, SecretVault, type SecretInfo, type SecretsListing } from './vault.js';
export { SecretsService, type Redeployer, type SecretsChangeResult, type SecretsOutcome } from './secrets-service.js';
export { SECRET_LIMITS, type SecretChange } from './rules.js';
