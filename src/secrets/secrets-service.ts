import type { Logger } from 'pino';
import type { Deployment } from '../core/deploy.js';
import { ConflictError, UserError } from '../core/errors.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { SecretChange } from './rules.js';
import type { SecretsListing, SecretVault } from './vault.js';

/** What applying secrets needs from deploys (DeployService has it): a new release of what runs now. */
export interface Redeployer {
  /** Newest first. */
  releases(app: string): Promise<Array<{ version: number; status: string }>>;
  list(app: string): Promise<Deployment[]>;
  redeployCurrent(app: string, req: { user: string; description: string }): Promise<Deployment>;
}

/**
 * What happened to a change: `deploying` (a new release rolls it out), `staged` (asked not to restart;
 * each machine takes the values at its next start), `no_release` (nothing runs yet), `unchanged`.
 */
export type SecretsOutcome = 'deploying' | 'staged' | 'no_release' | 'unchanged';

export interface SecretsChangeResult extends SecretsListing {
  outcome: SecretsOutcome;
  deployment: Deployment | null;
}

/**
 * `hangar secrets set/unset/import`: validate, store, and (unless staged) roll the change out as a new
 * release of what the app runs now, health-gated. Changes to one app run one at a time, so a second
 * change sees the first one's deployment and is refused before anything is stored.
 */
export class SecretsService {
  private readonly mutex = new KeyedMutex();

  constructor(private readonly deps: { vault: SecretVault; deploys: Redeployer; log: Logger }) {}

  list(app: string): Promise<SecretsListing> {
    return this.deps.vault.list(app);
  }

  change(app: string, req: SecretChange & { stage: boolean; user: string }): Promise<SecretsChangeResult> {
    return this.mutex.run(app, async () => {
      const { vault, deploys, log } = this.deps;
      // Checked before storing: a change that cannot be rolled out now should not half-happen.
      const current = req.stage ? undefined : (await deploys.releases(app))[0];
      const hasRelease = current !== undefined;
      if (current) await this.assertDeployable(app, current);
      const stored = await vault.apply(app, { set: req.set, unset: req.unset });
      const outcome: SecretsOutcome = stored.changed.length === 0 ? 'unchanged' : req.stage ? 'staged' : hasRelease ? 'deploying' : 'no_release';
      // Names only: a value never reaches a log line.
      log.info({ app, changed: stored.changed, digest: stored.digest, outcome, user: req.user }, 'secrets changed');
      if (outcome !== 'deploying') return { ...stored, outcome, deployment: null };
      try {
        const deployment = await deploys.redeployCurrent(app, { user: req.user, description: 'secrets updated' });
        return { ...stored, outcome, deployment };
      } catch (err) {
        const why = err instanceof UserError ? err.message : 'an internal error (see the daemon log)';
        if (!(err instanceof UserError)) log.error({ err, app }, 'redeploy after a secrets change failed');
        throw new ConflictError(
          'secrets_stored_not_deployed',
          `the secrets were stored, but the deploy that applies them could not start: ${why}`,
          'machines take the new values at their next start; apply them to all now with: hangar deploy',
        );
      }
    });
  }

  private async assertDeployable(app: string, current: { version: number; status: string }): Promise<void> {
    // The rollout redeploys the newest release; one that failed or was rolled back must not ship again.
    if (current.status !== 'complete' && current.status !== 'running') {
      throw new ConflictError(
        'release_not_deployable',
        `the newest release of app ${app}, v${current.version}, is ${current.status.replace('_', ' ')}; rolling out secrets would deploy it again, so they were not changed`,
        'store them with --stage; your next successful hangar deploy (or hangar releases rollback) rolls them out',
      );
    }
    const running = (await this.deps.deploys.list(app)).find((d) => d.status === 'running');
    if (!running) return;
    throw new ConflictError(
      'deploy_in_progress',
      `app ${app} is being deployed by deployment ${running.id} (release v${running.releaseVersion}); the secrets were not changed`,
      `wait for it (hangar deployments watch ${running.id}), or store them without restarting anything: --stage`,
    );
  }
}
