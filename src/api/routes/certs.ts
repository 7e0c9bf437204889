import type { CertificateInfo, CertService } from '../../certs/index.js';
import { AddCertBody, CertificateListView, CertificateView, CertParams, ImportCertBody } from '../contract-certs.js';
import { AppParams } from '../contract.js';
import { route } from '../openapi.js';
import type { Api } from '../server.js';

/** What the certificate routes need of the certificate store. */
export type CertsApi = Pick<CertService, 'add' | 'list' | 'show' | 'remove' | 'import'>;

export function certificateView(c: CertificateInfo): CertificateView {
  return {
    hostname: c.hostname,
    app: c.app,
    status: c.status,
    source: c.source,
    issuer: c.issuer,
    serial: c.serial,
    not_before: c.notBefore,
    not_after: c.notAfter,
    renews_at: c.renewsAt,
    last_error: c.lastError,
    next_attempt_at: c.nextAttemptAt,
    dns_records: c.dns,
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}

const HOSTNAME_400 = 'the hostname is not a DNS name, is a wildcard or an IP address (invalid_hostname)';
const KEY_503 = 'the secrets key that seals private keys cannot be read';

/** An app's TLS certificates (`hangar certs`): add a hostname to order, list, show, remove, import. */
export function certsRoutes(app: Api, deps: { certs: CertsApi }): void {
  const tags = ['certificates'];
  const { certs } = deps;
  app.get('/v1/apps/:app/certificates', { schema: route({ tags, summary: "The app's hostnames with their certificates", params: AppParams, ok: { 200: CertificateListView } }) }, async (req) =>
    (await certs.list(req.params.app)).map(certificateView),
  );
  app.post(
    '/v1/apps/:app/certificates',
    {
      schema: route({
        tags,
        summary: 'Add a hostname: a certificate is ordered from the ACME CA through HTTP-01 (adding a pending one again retries it now)',
        params: AppParams,
        body: AddCertBody,
        ok: { 200: CertificateView },
        errors: { 400: HOSTNAME_400, 409: 'another app has the hostname (hostname_taken)' },
      }),
    },
    async (req) => certificateView(await certs.add(req.params.app, req.body.hostname)),
  );
  app.get(
    '/v1/apps/:app/certificates/:hostname',
    { schema: route({ tags, summary: 'One hostname: its certificate, the last error, the next attempt and the DNS records it needs', params: CertParams, ok: { 200: CertificateView }, errors: { 400: HOSTNAME_400 } }) },
    async (req) => certificateView(await certs.show(req.params.app, req.params.hostname)),
  );
  app.delete(
    '/v1/apps/:app/certificates/:hostname',
    { schema: route({ tags, summary: 'Remove a hostname and its certificate; it is served no more', params: CertParams, ok: { 200: CertificateView }, errors: { 400: HOSTNAME_400 } }) },
    async (req) => certificateView(await certs.remove(req.params.app, req.params.hostname)),
  );
  app.post(
    '/v1/apps/:app/certificates/:hostname/import',
    {
      schema: route({
        tags,
        summary: "Import a certificate and its private key for the hostname; it serves at once and is not renewed",
        params: CertParams,
        body: ImportCertBody,
        ok: { 200: CertificateView },
        errors: {
          400: `the PEM does not parse, the key is encrypted or does not match, the names do not cover the hostname, or it expired; or ${HOSTNAME_400}`,
          409: 'another app has the hostname (hostname_taken)',
          503: KEY_503,
        },
      }),
    },
    async (req) => certificateView(await certs.import(req.params.app, req.params.hostname, req.body.certificate, req.body.private_key)),
  );
}
