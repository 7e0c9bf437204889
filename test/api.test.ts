import assert from 'node:assert/strict';
import { test } from 'node:test';
import { get, startDaemon } from './helpers.js';

test('API: token required, health open, OpenAPI document served', async (t) => {
  const d = await startDaemon(t);
  assert.equal((await get(d.url + '/v1/apps')).status, 401);
  const bad = await fetch(d.url + '/v1/apps', { headers: { authorization: 'Bearer nope' } });
  assert.equal(bad.status, 401);
  assert.equal(((await bad.json()) as { code: string }).code, 'unauthorized');
  const health = await get(d.url + '/health');
  assert.equal(health.status, 200);
  assert.equal(JSON.parse(health.text).ok, true);
  assert.equal((await get(d.url + '/v1/openapi.json')).status, 401);
  const doc = await d.api('GET', '/v1/openapi.json');
  assert.equal(doc.status, 200);
  assert.ok(doc.body.paths['/v1/apps/{app}/machines'], 'machines path documented');
  assert.ok(doc.body.paths['/v1/apps/{app}/machines/{id}/lease'], 'lease path documented');
  // --proxy-listen is bound from the first start (the address is reserved for the proxy).
  const proxy = await fetch(d.proxyUrl + '/', { headers: { host: 'nope.localhost' } });
  assert.ok(proxy.status >= 400);
});

test('apps: create, duplicate, list, show, destroy; bad names name the field', async (t) => {
  const d = await startDaemon(t);
  const created = await d.api('POST', '/v1/apps', { app_name: 'shop' });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'shop');
  assert.equal(created.body.hostname, 'shop.localhost');
  const dup = await d.api('POST', '/v1/apps', { app_name: 'shop' });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.code, 'app_exists');
  const bad = await d.api('POST', '/v1/apps', { app_name: 'Bad Name!' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'invalid_input');
  assert.deepEqual(bad.body.details.map((x: { path: string }) => x.path), ['body.app_name']);
  const wrongType = await d.api('POST', '/v1/apps', { app_name: 42 });
  assert.equal(wrongType.status, 400);
  const notJson = await fetch(d.url + '/v1/apps', { method: 'POST', headers: { authorization: `Bearer ${d.token}`, 'content-type': 'application/json' }, body: '{nope' });
  assert.equal(notJson.status, 400);
  const list = await d.api('GET', '/v1/apps');
  assert.deepEqual(list.body.apps.map((a: { name: string }) => a.name), ['shop']);
  assert.equal((await d.api('GET', '/v1/apps/nope')).status, 404);
  assert.equal((await d.api('DELETE', '/v1/apps/shop')).status, 202);
  assert.equal((await d.api('GET', '/v1/apps/shop')).status, 404);
});
