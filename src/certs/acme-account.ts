import acme from 'acme-client';
import type { CertsRepo } from '../state/certs-repo.js';
import type { AccountStore } from './acme-issuer.js';
import { accountKeyContext, type Sealer } from './sealing.js';

/**
 * The ACME account of one CA directory in the shared state: its key sealed. The first node that needs
 * it creates the key; nodes racing to do so all end up with the one stored first.
 */
export class AcmeAccounts implements AccountStore {
  constructor(private readonly deps: { certs: CertsRepo; sealer: Sealer; directoryUrl: string; now: () => number }) {}

  async key(): Promise<{ keyPem: string; url: string | null }> {
    const { certs, sealer, directoryUrl } = this.deps;
    const context = accountKeyContext(directoryUrl);
    let stored = await certs.account(directoryUrl);
    if (!stored) {
      const keyPem = (await acme.crypto.createPrivateEcdsaKey()).toString();
      const { sealed, keyId } = await sealer.seal(keyPem, context);
      stored = await certs.accountOr({ directoryUrl, keySealed: sealed, keyId }, this.deps.now());
      if (stored.keySealed === sealed) return { keyPem, url: stored.url };
    }
    return { keyPem: await sealer.unseal(stored.keySealed, context), url: stored.url };
  }

  saveUrl(url: string): Promise<void> {
    return this.deps.certs.setAccountUrl(this.deps.directoryUrl, url);
  }
}
