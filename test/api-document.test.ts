import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { echoConfig, startDaemon, uploadEcho, waitUntil, type TestDaemon } from './helpers.js';

// ajv comes with fastify (which validates its own options with it); the document is JSON Schema 2020-12.
const require = createRequire(import.meta.url);
const Ajv2020 = require('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js').default;

type Json = Record<string, any>;
interface Operation {
  method: string;
  path: string;
  op: Json;
}

const ERROR_REF = '#/components/schemas/ErrorBody';
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function operations(doc: Json): Operation[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ method, path, op: op as Json })),
  );
}

/** The documented path template a concrete path falls under (static segments win, as in the router). */
function templateOf(doc: Json, path: string): string | undefined {
  const segments = path.split('?')[0]!.split('/');
  const fits = Object.keys(doc.paths).filter((t) => {
    const parts = t.split('/');
    return parts.length === segments.length && parts.every((p, i) => p.startsWith('{') || p === segments[i]);
  });
  const statics = (t: string) => t.split('/').filter((p) => !p.startsWith('{')).length;
  return fits.sort((a, b) => statics(b) - statics(a))[0];
}

/** A validator for documented bodies: component references point at schemas added under their own names. */
function validatorFor(doc: Json) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const local = (schema: unknown): unknown => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', '"components:'));
  for (const [name, schema] of Object.entries(doc.components.schemas as Json)) ajv.addSchema(local(schema) as object, `components:${name}`);
  return (schema: unknown, value: unknown): string | undefined => {
    const validate = ajv.compile(local(schema) as object);
    return validate(value) ? undefined : ajv.errorsText(validate.errors);
  };
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
  allow: string | null;
}

async function call(d: TestDaemon, method: string, path: string, opts: { body?: unknown; auth?: boolean } = {}): Promise<Answer> {
  const headers: Record<string, string> = opts.auth === false ? {} : { authorization: `Bearer ${d.token}` };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(d.url + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text(), allow: res.headers.get('allow') };
}

/**
 * Checks one real answer against the document: its status is documented for the operation, and its
 * body (each line of an NDJSON answer) validates against the schema documented for that status.
 */
function checkAnswer(doc: Json, validate: ReturnType<typeof validatorFor>, method: string, path: string, a: Answer): void {
  const template = templateOf(doc, path);
  assert.ok(template, `${path} is documented`);
  const where = `${method} ${path} → ${a.status}`;
  // A method the path does not take is answered as every operation of the path documents it: 405.
  const own = doc.paths[template][method.toLowerCase()];
  if (!own) assert.equal(a.status, 405, `${where}: an undocumented method is a 405`);
  const op = own ?? Object.values(doc.paths[template])[0];
  const response = op.responses[String(a.status)];
  assert.ok(response, `${where}: the status is documented (documented: ${Object.keys(op.responses).join(', ')})`);
  const mediaType = a.contentType.split(';')[0]!.trim();
  const content = Object.entries(response.content as Json).find(([type]) => type.split(';')[0]!.trim() === mediaType);
  assert.ok(content, `${where}: ${mediaType} is a documented media type (${Object.keys(response.content).join(', ')})`);
  const schema = (content[1] as Json).schema;
  const bodies = mediaType === 'application/x-ndjson' ? a.text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l)) : mediaType === 'application/json' ? [JSON.parse(a.text)] : [a.text];
  for (const body of bodies) {
    const problem = validate(schema, body);
    assert.equal(problem, undefined, `${where}: ${problem} in ${JSON.stringify(body).slice(0, 300)}`);
  }
}

test('the OpenAPI document: every status of every operation with its body, open /health, path parameter limits', async (t) => {
  const d = await startDaemon(t);
  const res = await d.api('GET', '/v1/openapi.json');
  assert.equal(res.status, 200);
  const doc = res.body as Json;
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(doc.components.schemas.ErrorBody.type, 'object');
  assert.deepEqual(doc.components.schemas.ErrorBody.required, ['error', 'code', 'details']);
  const ops = operations(doc);
  assert.ok(ops.length >= 41, `all operations documented (${ops.length})`);
  for (const { method, path, op } of ops) {
    const at = `${method.toUpperCase()} ${path}`;
    const statuses = Object.keys(op.responses).map(Number);
    assert.ok(statuses.some((s) => s >= 200 && s < 300), `${at}: a success status`);
    for (const s of [400, 405, 408, 414, 431, 500]) assert.ok(statuses.includes(s), `${at}: documents ${s}`);
    if (path.includes('{')) assert.ok(statuses.includes(404), `${at}: documents 404`);
    if (method !== 'get') for (const s of [413, 415]) assert.ok(statuses.includes(s), `${at}: documents ${s}`);
    for (const [status, response] of Object.entries(op.responses as Json)) {
      assert.ok(response.description && response.description !== 'Default Response', `${at} ${status}: described`);
      const content = Object.values(response.content ?? {}) as Json[];
      assert.ok(content.length > 0 && content.every((c) => c.schema), `${at} ${status}: has a body schema`);
      if (Number(status) >= 400) assert.deepEqual(Object.keys(response.content), ['application/json'], `${at} ${status}: JSON`);
      if (Number(status) >= 400) assert.equal(response.content['application/json'].schema.$ref, ERROR_REF, `${at} ${status}: the error schema`);
    }
    assert.equal(statuses.includes(401), path !== '/health', `${at}: 401 unless open`);
    for (const p of (op.parameters ?? []).filter((x: Json) => x.in === 'path')) {
      const s = p.schema as Json;
      assert.ok(s.enum || (typeof s.maxLength === 'number' && s.maxLength <= 1024), `${at}: {${p.name}} has a length limit or an enum`);
      if (p.name === 'app') assert.equal(s.pattern, '^[a-z][a-z0-9-]{0,62}$', `${at}: {app} pattern`);
      if (p.name === 'id' && path.includes('/machines/')) assert.equal(s.pattern, '^[0-9a-f]{14}$', `${at}: machine {id} pattern`);
      if (p.name === 'id' && path.startsWith('/v1/deployments/')) assert.ok(s.pattern && s.maxLength === 26, `${at}: deployment {id} pattern`);
    }
  }
  assert.deepEqual(doc.paths['/health'].get.security, []);
  assert.deepEqual(doc.security, [{ bearer: [] }]);
  assert.match(doc.paths['/v1/apps/{app}/machines/{id}/wait'].get.responses['408'].description, /wait_timeout/, '/wait documents its own 408');
  assert.ok(doc.paths['/v1/apps/{app}/machines/{id}/stop'].post.responses['409'], 'a leased machine answers 409');
  assert.ok(doc.paths['/v1/apps/{app}/machines/{id}/stop'].post.responses['503'], 'a machine change can meet an engine that is away');
  assert.ok(doc.paths['/v1/apps/{app}/routing'].patch.responses['409'], 'ports in use are documented');
  assert.equal(doc.paths['/v1/apps'].post.responses['201'].content['application/json'].schema.properties.name.type, 'string');
  assert.ok(doc.paths['/v1/apps/{app}'].get.responses['405'].headers.allow, '405 documents Allow');

  // Bodies and media types as the server takes them.
  const upload = doc.paths['/v1/apps/{app}/images'].post;
  assert.deepEqual(Object.keys(upload.requestBody.content), ['application/vnd.hangar.snapshot.v1+gzip']);
  assert.deepEqual(Object.keys(doc.paths['/v1/apps/{app}/builds'].post.requestBody.content), ['application/vnd.hangar.snapshot.v1+gzip']);
  assert.equal(doc.paths['/v1/apps/{app}/machines/{id}/stop'].post.requestBody.required, false, 'stop takes no body');
  assert.equal(doc.paths['/v1/apps'].post.requestBody.required, true);
  const buildArgs = doc.paths['/v1/apps/{app}/builds'].post.parameters.find((p: Json) => p.name === 'build_args');
  assert.equal(buildArgs.content['application/json'].schema.type, 'object', 'build_args carries a JSON object');
  for (const [path, method] of [['/v1/apps/{app}/logs', 'get'], ['/v1/deployments/{id}/events', 'get'], ['/v1/apps/{app}/builds', 'post'], ['/v1/apps/{app}/images/{tag}/push', 'post']] as const) {
    assert.ok(doc.paths[path][method].responses['200'].content['application/x-ndjson'].schema, `${path}: NDJSON lines documented`);
  }
  const states = doc.paths['/v1/apps/{app}/machines'].get.parameters.find((p: Json) => p.name === 'state').schema;
  assert.ok(!new RegExp(states.pattern).test(''), '?state= (empty) is invalid in the document too');
  const window = doc.paths['/v1/apps/{app}/metrics'].get.parameters.find((p: Json) => p.name === 'window').schema;
  assert.ok(!new RegExp(window.pattern).test(''), '?window= (empty) is invalid in the document too');
  const compare = doc.paths['/v1/apps/{app}/metrics/compare'].post.requestBody.content['application/json'].schema.properties.window;
  assert.deepEqual(compare.anyOf.find((s: Json) => s.type === 'number'), { type: 'number', minimum: 1, maximum: 600 });
  assert.deepEqual(compare['x-duration-ms'], { minimum: 1000, maximum: 600_000 });
});

test('real answers, success and error, validate against the document', async (t) => {
  const d = await startDaemon(t);
  const doc = (await d.api('GET', '/v1/openapi.json')).body as Json;
  const validate = validatorFor(doc);
  const seen: string[] = [];
  const check = async (method: string, path: string, expected: number, opts: { body?: unknown; auth?: boolean } = {}) => {
    const a = await call(d, method, path, opts);
    assert.equal(a.status, expected, `${method} ${path}: ${a.text.slice(0, 300)}`);
    checkAnswer(doc, validate, method, path, a);
    seen.push(`${a.status}`);
    return a;
  };

  await check('GET', '/health', 200, { auth: false });
  await check('GET', '/v1/apps', 401, { auth: false });
  await check('POST', '/v1/apps', 201, { body: { app_name: 'echo' } });
  await check('POST', '/v1/apps', 409, { body: { app_name: 'echo' } });
  await check('POST', '/v1/apps', 400, { body: { app_name: 'Echo!' } });
  await check('GET', '/v1/apps', 200);
  await check('GET', '/v1/apps?verbose=1', 400);
  await check('GET', '/v1/apps/nope', 404);
  const image = await uploadEcho(d, 'echo');
  await check('GET', '/v1/apps/echo/images', 200);
  await check('GET', `/v1/apps/echo/images/${encodeURIComponent(image)}`, 200);
  await check('GET', '/v1/apps/echo/images/%25', 404);
  const created = await check('POST', '/v1/apps/echo/machines', 201, { body: { config: echoConfig(image) } });
  const id = JSON.parse(created.text).id as string;
  await waitUntil(async () => (await d.api('GET', `/v1/apps/echo/machines/${id}`)).body.state === 'started', 15_000, 'the machine to start');
  await check('GET', '/v1/apps/echo/machines', 200);
  await check('GET', `/v1/apps/echo/machines/${id}`, 200);
  await check('GET', `/v1/apps/echo/machines/${id}/events`, 200);
  await check('GET', `/v1/apps/echo/machines/${id}/wait?state=started&timeout=5`, 200);
  await check('GET', `/v1/apps/echo/machines/${id}/wait?state=destroyed&timeout=1`, 408);
  await check('GET', `/v1/apps/echo/machines/${id}/lease`, 404);
  await check('POST', `/v1/apps/echo/machines/${id}/lease`, 201, { body: { ttl: 60 } });
  await check('GET', `/v1/apps/echo/machines/${id}/lease`, 200);
  await check('POST', `/v1/apps/echo/machines/${id}/cordon`, 409);
  await check('DELETE', `/v1/apps/echo/machines/${id}/lease`, 409);
  await check('GET', '/v1/apps/echo/routing', 200);
  await check('PATCH', '/v1/apps/echo/routing', 200, { body: { hostnames: ['shop.example.test'], hold_timeout: '2s' } });
  await check('PATCH', '/v1/apps/echo/routing', 400, { body: { hold_timeout: '' } });
  await check('GET', '/v1/apps/echo/metrics?window=30s', 200);
  await check('POST', '/v1/apps/echo/metrics/compare', 200, { body: { window: 30, a: [id], b: [id] } });
  await check('GET', '/v1/apps/echo/logs?limit=20', 200);
  await check('GET', '/v1/apps/echo/deployments', 200);
  await check('GET', '/v1/apps/echo/releases', 200);
  await check('GET', '/v1/apps/echo/secrets', 200);
  await check('GET', '/metrics', 200);
  await check('GET', '/v1/deployments/01ARZ3NDEKTSV4RRFFQ69G5FAV', 404);
  await check('GET', '/v1/deployments/nope', 400);
  await check('DELETE', '/v1/apps/echo', 412);
  const unsupported = await check('PUT', '/v1/apps/echo', 405);
  assert.equal(unsupported.allow, 'DELETE, GET, HEAD');
  await check('GET', `/v1/apps/${'a'.repeat(1100)}`, 414);
  await check('DELETE', '/v1/apps/echo?force=true', 202);
  assert.deepEqual([...new Set(seen)].sort(), ['200', '201', '202', '400', '401', '404', '405', '408', '409', '412', '414']);
});
