import fc from 'fast-check';
import { LOG_SOURCES } from '../../src/core/log-line.js';
import { MACHINE_SIGNALS } from '../../src/core/signals.js';
import { MACHINE_STATES } from '../../src/core/types.js';
import type { Operation, Param, Schema } from './openapi.js';
import { FixtureRef, mutated, validValue, type GenContext, type Value } from './schema-arbitrary.js';

/**
 * Requests generated from one operation of the document (or a method its path does not document):
 * path parameters from the fixture, from the schema or odd on purpose; query strings valid, broken or
 * with unknown names; bodies valid, mutated or not JSON at all; with, without or with a wrong token.
 */

/** A path or query value: a `Value` (encoded when sent) or `raw` text put into the URL as it is. */
export type WireValue = { value: Value } | { raw: string };

export type BodySpec = { kind: 'none' } | { kind: 'json'; value: Value | undefined; contentType: string } | { kind: 'raw'; text: string; contentType?: string };

export interface RequestSpec {
  /** `undefined`: a method that the path does not document. */
  op?: Operation;
  method: string;
  template: string;
  path: Record<string, WireValue>;
  query: Array<[string, WireValue]>;
  body: BodySpec;
  auth: 'token' | 'none' | 'wrong';
  /** A header large enough to pass the server's header limit. */
  bigHeader: boolean;
  /** Send the lease nonce the fuzzer holds on the machine, if any. */
  nonce: boolean;
}

/** Path segments that have broken routers: stray `%`, bad UTF-8, dot segments, emptiness and length. */
export const ODD_SEGMENTS = [
  '%25',
  '%2525',
  '100%25',
  '%25zz',
  '%',
  '%zz',
  '%C3%28',
  '%ED%A0%80',
  '%00',
  '%2F',
  '%2e%2e',
  '..',
  '.',
  '',
  encodeURIComponent('é漢🚀'),
  encodeURIComponent('ü'.repeat(600)),
  'a'.repeat(101),
  'a'.repeat(4096),
  'x'.repeat(9000),
  'y'.repeat(17000),
];

const ODD_QUERY = ['', '%', '%25', '%C3%28', '-1', '1e120', '0', 'true,false', 'x'.repeat(3000), encodeURIComponent('🚀'), '%00', 'null'];

// Short ones: a generated stop or deploy must not rightly take minutes (the schema still brings long ones).
const DURATIONS = fc.constantFrom<Value>('1s', '500ms', '2s', 1, '0s', '1m', '1m30s');
const machineRef = fc.nat().map((n) => new FixtureRef('machine', n));
const machineRefs = fc.array(machineRef, { minLength: 1, maxLength: 2 });

const BODY_HINTS: Record<string, fc.Arbitrary<Value>> = {
  image: fc.nat().map((n) => new FixtureRef('imageRef', n)),
  config_text: fc.constant(new FixtureRef('configText', 0)),
  machine: machineRef,
  a: machineRefs,
  b: machineRefs,
  machines: machineRefs,
  only_machines: machineRefs,
  exclude_machines: machineRefs,
  version: fc.nat().map((n) => new FixtureRef('releaseVersion', n)),
  signal: fc.constantFrom<Value>(...MACHINE_SIGNALS),
  cmd: fc.constantFrom<Value>(['node', 'server.js'], ['node', 'worker.js']),
  region: fc.constant('ams'),
  regions: fc.constantFrom<Value>(['ams'], [], 'ams'),
  exclude_regions: fc.constantFrom<Value>([], ['fra']),
  process_groups: fc.constantFrom<Value>(['web'], ['worker'], 'web,worker'),
  // Plain configurations often enough that creates, updates and deploys get through to the work itself.
  env: fc.constantFrom<Value>({}, { MESSAGE: 'fuzz' }),
  services: fc.constantFrom<Value>([], [{ internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }]),
  checks: fc.constantFrom<Value>({}, []),
};
for (const d of ['timeout', 'interval', 'grace_period', 'window', 'wait_timeout', 'release_command_timeout', 'hold_timeout', 'idle_timeout', 'rotate_deadline', 'rotate_idle']) BODY_HINTS[d] = DURATIONS;

const QUERY_HINTS: Record<string, fc.Arbitrary<Value>> = {
  machine: machineRef,
  machines: fc.nat().map((n) => new FixtureRef('machineList', n)),
  // Waits are bounded by their own timeout: short ones keep the run short (longer ones still come from the schema).
  timeout: fc.constantFrom<Value>(1, 2),
  state: fc.constantFrom<Value>('started', 'stopped', 'started,stopped', 'destroyed', ...MACHINE_STATES),
  source: fc.constantFrom<Value>(...LOG_SOURCES, 'app,deploy'),
  window: DURATIONS,
  region: fc.constant('ams'),
  after: fc.constantFrom<Value>(0, 1, 5),
  limit: fc.constantFrom<Value>(0, 1, 10),
};

const context = (doc: Schema, hints: Record<string, fc.Arbitrary<Value>>): GenContext => ({ doc, hint: (name) => (name !== undefined && Object.hasOwn(hints, name) ? hints[name] : undefined) });

/** Which fixture value a path parameter names: `{app}`, `{tag}`, and `{id}` after `machines` or `deployments`. */
export function roleOf(template: string, name: string): string | undefined {
  if (name === 'app') return 'app';
  if (name === 'tag') return 'imageTag';
  const before = template.split('/').at(template.split('/').indexOf(`{${name}}`) - 1);
  return before === 'machines' ? 'machine' : before === 'deployments' ? 'deployment' : undefined;
}

function pathValue(template: string, p: Param, ctx: GenContext): fc.Arbitrary<WireValue> {
  const role = roleOf(template, p.name);
  const fromSchema = validValue(p.schema, ctx, undefined).map((value): WireValue => ({ value }));
  const odd = fc.constantFrom(...ODD_SEGMENTS).map((raw): WireValue => ({ raw }));
  if (!role) return fc.oneof({ weight: 7, arbitrary: fromSchema }, { weight: 3, arbitrary: odd });
  const fixture = fc.nat().map((n): WireValue => ({ value: new FixtureRef(role, n) }));
  return fc.oneof({ weight: 6, arbitrary: fixture }, { weight: 2, arbitrary: fromSchema }, { weight: 3, arbitrary: odd });
}

/**
 * Mostly every parameter from the fixture (so the operation reaches its handler), otherwise each one
 * independently from the fixture, the schema or the odd segments.
 */
function pathValues(template: string, params: Param[], ctx: GenContext, onlyFixture = false): fc.Arbitrary<Record<string, WireValue>> {
  const names = [...template.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
  const byName = new Map(params.filter((p) => p.in === 'path').map((p) => [p.name, p]));
  const paramOf = (n: string) => byName.get(n) ?? { name: n, in: 'path' as const, required: true, schema: { type: 'string' } };
  const fixtureOr = (n: string, other: fc.Arbitrary<WireValue>) => {
    const role = roleOf(template, n);
    return role ? fc.nat().map((k): WireValue => ({ value: new FixtureRef(role, k) })) : other;
  };
  const real = fc.record(Object.fromEntries(names.map((n) => [n, fixtureOr(n, validValue(paramOf(n).schema, ctx).map((value): WireValue => ({ value })))])));
  if (onlyFixture) return real;
  const mixed = fc.record(Object.fromEntries(names.map((n) => [n, pathValue(template, paramOf(n), ctx)])));
  return fc.oneof({ weight: 7, arbitrary: real }, { weight: 3, arbitrary: mixed });
}

function queryValues(params: Param[], ctx: GenContext): fc.Arbitrary<Array<[string, WireValue]>> {
  const qs = params.filter((p) => p.in === 'query');
  const each = qs.map((p) => {
    const v = validValue(p.schema, ctx, p.name).map((value): [string, WireValue] => [p.name, { value }]);
    return p.required ? v.map((x) => [x]) : fc.option(v, { nil: undefined, freq: 2 }).map((x) => (x ? [x] : []));
  });
  const valid = fc.tuple(...each).map((lists) => lists.flat() as Array<[string, WireValue]>);
  const broken = fc.tuple(valid, fc.nat(), fc.constantFrom(...ODD_QUERY)).map(([list, i, raw]) => {
    if (qs.length === 0) return [...list, ['q', { raw }]] as Array<[string, WireValue]>;
    const name = qs[i % qs.length]!.name;
    return [...list.filter(([n]) => n !== name), [name, { raw }]] as Array<[string, WireValue]>;
  });
  const unknown = fc.tuple(valid, fc.constantFrom('fz_unknown', 'foo', 'force', 'tag', 'debug'), fc.constantFrom('1', 'true', '')).map(([list, n, raw]) => [...list, [n, { raw }]] as Array<[string, WireValue]>);
  return fc.oneof({ weight: 6, arbitrary: valid }, { weight: 2, arbitrary: broken }, { weight: 1, arbitrary: unknown });
}

const RAW_BODIES = ['', '{', '{"a":', 'null', '[]', '"x"', '1e120', 'not json', '{"__proto__":{"x":1}}', '\u0000'];

function bodyOf(op: Operation, ctx: GenContext): fc.Arbitrary<BodySpec> {
  const none = fc.constant<BodySpec>({ kind: 'none' });
  const rawJson = fc.constantFrom(...RAW_BODIES).map((text): BodySpec => ({ kind: 'raw', text, contentType: 'application/json' }));
  if (!op.body) {
    const stray = fc.jsonValue({ maxDepth: 2 }).map((value): BodySpec => ({ kind: 'json', value: value as Value, contentType: 'application/json' }));
    return fc.oneof({ weight: 8, arbitrary: none }, { weight: 1, arbitrary: stray }, { weight: 1, arbitrary: rawJson });
  }
  const [contentType, media] = Object.entries(op.body.content).find(([t]) => /json/.test(t)) ?? Object.entries(op.body.content)[0] ?? ['application/json', {}];
  if (!/json/.test(contentType)) {
    // A body the document declares in another media type (an upload): bytes that are not one.
    const bytes = fc.string({ maxLength: 64 }).map((text): BodySpec => ({ kind: 'raw', text, contentType }));
    return fc.oneof(bytes, none, rawJson);
  }
  const valid = validValue(media.schema ?? {}, ctx);
  const asJson = (value: Value | undefined): BodySpec => ({ kind: 'json', value, contentType });
  const otherType = valid.map((v): BodySpec => ({ kind: 'raw', text: JSON.stringify(v), contentType: 'text/plain' }));
  return fc.oneof(
    { weight: 5, arbitrary: valid.map(asJson) },
    { weight: 4, arbitrary: mutated(valid).map(asJson) },
    { weight: 1, arbitrary: fc.oneof(rawJson, otherType, none) },
  );
}

// The token is checked before anything else, for every route alike: a few requests without it suffice.
const auth = fc.oneof({ weight: 18, arbitrary: fc.constant('token' as const) }, { weight: 1, arbitrary: fc.constant('none' as const) }, { weight: 1, arbitrary: fc.constant('wrong' as const) });
const bigHeader = fc.nat({ max: 59 }).map((n) => n === 0);

/** Requests for one documented operation. */
export function requestsFor(op: Operation, doc: Schema): fc.Arbitrary<RequestSpec> {
  const bodyCtx = context(doc, BODY_HINTS);
  const queryCtx = context(doc, QUERY_HINTS);
  return fc.record({
    path: pathValues(op.path, op.params, queryCtx),
    query: queryValues(op.params, queryCtx),
    body: bodyOf(op, bodyCtx),
    auth,
    bigHeader,
    nonce: fc.boolean(),
  }).map((r) => ({ ...r, op, method: op.method.toUpperCase(), template: op.path }));
}

/** Requests with a method the path does not document. */
export function undocumentedFor(template: string, missing: string[], doc: Schema): fc.Arbitrary<RequestSpec> {
  const ctx = context(doc, QUERY_HINTS);
  // The path's own operations say what its parameters look like (an empty `{host}` is another path).
  const ops = Object.values(((doc as { paths?: Record<string, Record<string, { parameters?: Param[] }>> }).paths ?? {})[template] ?? {});
  const params = ops.flatMap((o) => o.parameters ?? []).filter((p) => p.in === 'path');
  return fc.record({
    method: fc.constantFrom(...missing.map((m) => m.toUpperCase())),
    path: pathValues(template, params, ctx, true),
    body: fc.oneof(fc.constant<BodySpec>({ kind: 'none' }), fc.constant<BodySpec>({ kind: 'json', value: {}, contentType: 'application/json' })),
    auth,
  }).map((r) => ({ ...r, template, query: [], bigHeader: false, nonce: false }));
}
