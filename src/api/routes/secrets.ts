import { shortDigest, type SecretsListing } from '../../secrets/index.js';
import { AppParams, SecretsBody, SecretsChangeView, SecretsView } from '../contract.js';
import { route } from '../openapi.js';
import type { Api, ApiDeps } from '../server.js';
import { deploymentView } from './deployments.js';

/** Room for the largest allowed change (100 values of 64 KiB, JSON-escaped) above the API's default limit. */
const BODY_LIMIT = 16 * 1024 * 1024;

export function secretsView(l: SecretsListing): SecretsView {
  return { digest: l.digest, secrets: l.secrets.map((s) => ({ name: s.name, digest: shortDigest(s.digest), created_at: s.createdAt, updated_at: s.updatedAt })) };
}

/** App secrets: names and digests out, values in only. */
export function secretsRoutes(app: Api, deps: ApiDeps): void {
  const tags = ['secrets'];
  app.get('/v1/apps/:app/secrets', { schema: route({ tags, summary: "The app's secrets (names and digests, never values) and the digest of the whole set", params: AppParams, ok: { 200: SecretsView }, errors: { 503: 'the secret key cannot be read' } }) }, async (req): Promise<SecretsView> => {
    return secretsView(await deps.secrets.list(req.params.app));
  });

  app.post(
    '/v1/apps/:app/secrets',
    {
      bodyLimit: BODY_LIMIT,
      schema: route({
        tags,
        summary: 'Set and unset secrets; unless staged, roll them out as a new release',
        params: AppParams,
        body: SecretsBody,
        ok: { 200: SecretsChangeView },
        errors: { 409: 'a deploy is running, or the change cannot be rolled out now', 503: 'the secret key cannot be read' },
      }),
    },
    async (req): Promise<SecretsChangeView> => {
      const b = req.body;
      const user = b.user ?? (req.headers['hangar-user'] as string | undefined) ?? 'local';
      const r = await deps.secrets.change(req.params.app, { set: b.set, unset: b.unset, stage: b.stage, user });
      return { ...secretsView(r), outcome: r.outcome, deployment: r.deployment && deploymentView(r.deployment) };
    },
  );
}
