/**
 * The certificate routes on a bare API server (the same schema compilers and error handler as the
 * daemon's) over a real CertService on a temp state: answers are the documented views, and the
 * service's refusals arrive as the error body with their code and hint; `hangar certs` talks to it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import swagger from '@fastify/swagger';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { CertService } from '../src/certs/index.js';
import { captureLog, certState, selfSigned } from '../src/certs/test-support.js';
import type { CertificateView } from '../src/api/contract-certs.js';
import { errorHandler } from '../src/api/errors.js';
import { documentRoute, finishDocument } from '../src/api/openapi.js';
import { certsRoutes } from '../src/api/routes/certs.js';
import type { Api } from '../src/api/server.js';
import { BIN } from './helpers.js';

async function setup(t: { after(fn: () => unknown): void }) {
  const env = await certState(t);
  const { log } = captureLog();
  const certs = new CertService({ state: env.state, vault: env.vault, log, acme: { directoryUrl: 'https://ca.invalid/dir' }, dnsTargets: () => ['198.51.100.4'] });
  const app = Fastify().withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(log));
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '0' } }, transform: documentRoute, transformObject: finishDocument });
  certsRoutes(app as unknown as Api, { certs });
  await app.ready();
  t.after(() => app.close());
  const call = async <T = any>(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) => {
    const r = await app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) });
    return { status: r.statusCode, body: r.json() as T };
  };
  return { ...env, app, call };
}

test('add, list, show, import and remove through the API', async (t) => {
  const s = await setup(t);
  const added = await s.call<CertificateView>('POST', '/v1/apps/web/certificates', { hostname: 'Shop.Example.Test' });
  assert.equal(added.status, 200);
  assert.deepEqual(
    { ...added.body, created_at: '', updated_at: '', next_attempt_at: added.body.next_attempt_at !== null },
    { hostname: 'shop.example.test', app: 'web', status: 'pending', source: 'acme', issuer: null, serial: null, not_before: null, not_after: null, renews_at: null, last_error: null, next_attempt_at: true, dns_records: [{ type: 'A', name: 'shop.example.test', value: '198.51.100.4' }], created_at: '', updated_at: '' },
  );
  assert.deepEqual((await s.call('GET', '/v1/apps/web/certificates')).body.map((c: CertificateView) => c.hostname), ['shop.example.test']);
  assert.equal((await s.call('GET', '/v1/apps/web/certificates/shop.example.test')).body.status, 'pending');
  const own = selfSigned(s.dir, { names: ['shop.example.test'] });
  const imported = await s.call<CertificateView>('POST', '/v1/apps/web/certificates/shop.example.test/import', { certificate: own.certPem, private_key: own.keyPem });
  assert.equal(imported.status, 200);
  assert.deepEqual([imported.body.status, imported.body.source, imported.body.issuer], ['issued', 'imported', 'shop.example.test']);
  assert.equal(JSON.stringify(imported.body).includes('PRIVATE KEY'), false, 'the key never comes back');
  const removed = await s.call('DELETE', '/v1/apps/web/certificates/shop.example.test');
  assert.equal(removed.status, 200);
  assert.equal((await s.call('GET', '/v1/apps/web/certificates/shop.example.test')).status, 404);
});

test('refusals arrive with their status, code and hint', async (t) => {
  const s = await setup(t);
  const wildcard = await s.call('POST', '/v1/apps/web/certificates', { hostname: '*.example.test' });
  assert.equal(wildcard.status, 400);
  assert.equal(wildcard.body.code, 'invalid_hostname');
  assert.match(wildcard.body.hint, /hangar certs import/);
  await s.call('POST', '/v1/apps/shop/certificates', { hostname: 'shop.example.test' });
  const taken = await s.call('POST', '/v1/apps/web/certificates', { hostname: 'shop.example.test' });
  assert.deepEqual([taken.status, taken.body.code], [409, 'hostname_taken']);
  assert.match(taken.body.error, /app shop/);
  const unknownApp = await s.call('GET', '/v1/apps/nope/certificates');
  assert.deepEqual([unknownApp.status, unknownApp.body.code], [404, 'app_not_found']);
  const missing = await s.call('DELETE', '/v1/apps/web/certificates/none.example.test');
  assert.deepEqual([missing.status, missing.body.code], [404, 'certificate_not_found']);
  const a = selfSigned(s.dir, { names: ['web.example.test'] });
  const b = selfSigned(s.dir, { names: ['web.example.test'] });
  const mismatch = await s.call('POST', '/v1/apps/web/certificates/web.example.test/import', { certificate: a.certPem, private_key: b.keyPem });
  assert.deepEqual([mismatch.status, mismatch.body.code], [400, 'certificate_key_mismatch']);
  assert.ok(mismatch.body.hint);
  const noBody = await s.call('POST', '/v1/apps/web/certificates/web.example.test/import', { certificate: a.certPem });
  assert.equal(noBody.status, 400);
  assert.equal((await s.call('GET', '/v1/apps/web/certificates')).body.length, 0, 'nothing was stored for web');
});

test('the routes are documented with their statuses', async (t) => {
  const s = await setup(t);
  const doc = s.app.swagger() as any;
  const show = doc.paths['/v1/apps/{app}/certificates/{hostname}'];
  assert.ok(show.get.responses['200'] && show.get.responses['404'] && show.delete.responses['200']);
  assert.equal(show.get.parameters.find((p: any) => p.name === 'hostname').schema.maxLength, 253);
  const imp = doc.paths['/v1/apps/{app}/certificates/{hostname}/import'].post;
  for (const status of ['200', '400', '404', '409', '413', '415', '503']) assert.ok(imp.responses[status], `import documents ${status}`);
  assert.ok(doc.paths['/v1/apps/{app}/certificates'].post.responses['409']);
});

test('hangar certs: add, list, show, import, remove; a refusal is one line with a hint', async (t) => {
  const s = await setup(t);
  await s.app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  const run = async (...args: string[]) => {
    const env = { ...process.env, HANGAR_API_URL: url, HANGAR_API_TOKEN: 'unused', NO_COLOR: '1' };
    try {
      const r = await promisify(execFile)(process.execPath, [BIN, 'certs', ...args], { env });
      return { status: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { status: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const added = await run('add', 'shop.example.test', '-a', 'web');
  assert.equal(added.status, 0, added.stderr);
  assert.match(added.stdout, /Added shop\.example\.test to app web/);
  assert.match(added.stdout, /A\s+shop\.example\.test\s+198\.51\.100\.4/);
  assert.match(added.stdout, /port 80/);
  const listed = await run('list', '-a', 'web');
  assert.match(listed.stdout, /HOSTNAME\s+STATUS\s+SOURCE/);
  assert.match(listed.stdout, /shop\.example\.test\s+pending\s+acme/);
  const json = JSON.parse((await run('list', '-a', 'web', '--json')).stdout) as CertificateView[];
  assert.deepEqual(json.map((c) => [c.hostname, c.status]), [['shop.example.test', 'pending']]);
  const own = selfSigned(s.dir, { names: ['shop.example.test'] });
  writeFileSync(join(s.dir, 'c.pem'), own.certPem);
  writeFileSync(join(s.dir, 'k.pem'), own.keyPem);
  const imported = await run('import', 'shop.example.test', '--cert', join(s.dir, 'c.pem'), '--key', join(s.dir, 'k.pem'), '-a', 'web');
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout, /Imported the certificate for shop\.example\.test/);
  const shown = await run('show', 'shop.example.test', '-a', 'web');
  assert.match(shown.stdout, /Status:\s+issued/);
  assert.match(shown.stdout, /Source:\s+imported/);
  const missingFile = await run('import', 'shop.example.test', '--cert', join(s.dir, 'nope.pem'), '--key', join(s.dir, 'k.pem'), '-a', 'web');
  assert.equal(missingFile.status, 1);
  assert.match(missingFile.stderr, /cannot read --cert .*ENOENT/);
  const wildcard = await run('add', '*.example.test', '-a', 'web');
  assert.equal(wildcard.status, 1);
  assert.match(wildcard.stderr, /^Error: \*\.example\.test is a wildcard.*\nhint: /);
  const removed = await run('remove', 'shop.example.test', '-a', 'web');
  assert.match(removed.stdout, /Removed shop\.example\.test/);
  assert.match((await run('list', '-a', 'web')).stdout, /has no certificates/);
});
