import fc from 'fast-check';
import { pointer, type Schema } from './openapi.js';

/**
 * JSON Schema → fast-check arbitraries: values meant to be valid (`validValue`), and values broken on
 * purpose (`mutated`). "Meant to": whether a request really is valid is decided afterwards by the
 * validator, never assumed from the generator (hints, for one, may break a schema).
 */

/** A value from the deployed fixture (an app name, a machine id…), resolved when the request is sent. */
export class FixtureRef {
  constructor(
    readonly role: string,
    readonly pick: number,
  ) {}
}

/**
 * A value nested `depth` arrays or objects deep, kept as a marker until it is sent: deep enough to
 * overflow any recursive walk over it, the fuzzer's own included.
 */
export class Nested {
  constructor(
    readonly depth: number,
    readonly array: boolean,
  ) {}

  /** As JSON text, built without recursion. */
  json(): string {
    return this.array ? `${'['.repeat(this.depth)}1${']'.repeat(this.depth)}` : `${'{"a":'.repeat(this.depth)}1${'}'.repeat(this.depth)}`;
  }
}

export type Value = null | boolean | number | string | FixtureRef | Nested | Value[] | { [k: string]: Value };

export interface GenContext {
  doc: Schema;
  /** Values to mix in for a property or parameter of this name (real ids, durations the daemon reads). */
  hint(name: string | undefined): fc.Arbitrary<Value> | undefined;
}

const MAX_DEPTH = 6;

/** A value meant to satisfy `schema`. */
export function validValue(schema: Schema, ctx: GenContext, name?: string, depth = 0): fc.Arbitrary<Value> {
  const plain = fromSchema(schema, ctx, depth);
  const hint = ctx.hint(name);
  return hint ? fc.oneof({ weight: 4, arbitrary: hint }, { weight: 1, arbitrary: plain }) : plain;
}

function fromSchema(s: Schema, ctx: GenContext, depth: number): fc.Arbitrary<Value> {
  if (typeof s !== 'object' || s === null) return anyJson();
  if (typeof s.$ref === 'string') return validValue(pointer(ctx.doc, s.$ref), ctx, undefined, depth);
  if ('const' in s) return fc.constant(s.const as Value);
  if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as Value[]));
  for (const k of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[k])) {
      const { [k]: alts, ...rest } = s;
      const arbs: Array<fc.Arbitrary<Value>> = alts.map((a: Schema) => fromSchema({ ...rest, ...a }, ctx, depth));
      return fc.oneof(...arbs);
    }
  }
  if (Array.isArray(s.allOf)) {
    const { allOf, ...rest } = s;
    return fromSchema(allOf.reduce(mergeSchemas, rest), ctx, depth);
  }
  if (Array.isArray(s.type)) {
    const arbs: Array<fc.Arbitrary<Value>> = s.type.map((t: string) => fromSchema({ ...s, type: t }, ctx, depth));
    return fc.oneof(...arbs);
  }
  switch (s.type) {
    case 'string':
      return stringOf(s);
    case 'integer':
      return integerOf(s);
    case 'number':
      return numberOf(s);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(validValue(s.items ?? {}, ctx, undefined, depth + 1), { minLength: s.minItems ?? 0, maxLength: Math.min(s.maxItems ?? 4, (s.minItems ?? 0) + 4) });
    case 'object':
      return objectOf(s, ctx, depth);
    default:
      return s.properties ? objectOf(s, ctx, depth) : s.items ? fromSchema({ ...s, type: 'array' }, ctx, depth) : anyJson();
  }
}

function mergeSchemas(a: Schema, b: Schema): Schema {
  return { ...a, ...b, properties: { ...a.properties, ...b.properties }, required: [...(a.required ?? []), ...(b.required ?? [])] };
}

function stringOf(s: Schema): fc.Arbitrary<Value> {
  const min = s.minLength ?? 0;
  const max = s.maxLength ?? Math.max(min + 24, 24);
  const fits = (v: string) => v.length >= min && v.length <= max;
  if (s.format === 'date-time') return fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4e12) }).map((d) => d.toISOString());
  if (s.format === 'uri') return fc.constantFrom('http://127.0.0.1:9/hook', 'https://127.0.0.1:9/x?y=1');
  if (typeof s.pattern === 'string') {
    try {
      return fc.stringMatching(new RegExp(s.pattern)).filter(fits);
    } catch {
      // a pattern fast-check cannot generate from: plain strings (the validator still judges them)
    }
  }
  const lengths = { minLength: min, maxLength: Math.min(max, min + 40) };
  const edges = EDGE_STRINGS.filter(fits);
  return fc.oneof(fc.string(lengths), fc.string({ ...lengths, unit: 'grapheme' }), ...(edges.length ? [fc.constantFrom(...edges)] : []));
}

/** Strings that parsers trip on: empty, blank, percent signs, dot segments, NUL, non-ASCII, number-like. */
const EDGE_STRINGS = ['', ' ', '%', '%25', '%zz', '..', '\u0000', 'é', '🚀', '0', '-1', '1e120', 'null', 'true'];

/** Numbers at the edges: zero, signs, the 32- and 53-bit limits, and past where `String(n)` turns exponential. */
const EDGE_NUMBERS = [0, -0, -1, 1, 0.5, 2 ** 31, 2 ** 31 - 1, 2 ** 53, -(2 ** 53), 1e21, 1e120, -1e120, Number.MAX_VALUE];

const LIMIT = 1e12;

function bounds(s: Schema): { lo: number; hi: number } {
  const lo = Math.max(-LIMIT, typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : (s.minimum ?? -LIMIT));
  const hi = Math.min(LIMIT, typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : (s.maximum ?? LIMIT));
  return { lo, hi };
}

/** The edge numbers a schema allows (its bounds given as the real ones, before clamping). */
function edgesWithin(s: Schema, integer: boolean): number[] {
  const lo = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : (s.minimum ?? -Infinity);
  const hi = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : (s.maximum ?? Infinity);
  const ok = (n: number) => (typeof s.exclusiveMinimum === 'number' ? n > lo : n >= lo) && (typeof s.exclusiveMaximum === 'number' ? n < hi : n <= hi) && (!integer || Number.isInteger(n));
  return [...EDGE_NUMBERS, lo, hi].filter((n) => Number.isFinite(n) && ok(n));
}

function integerOf(s: Schema): fc.Arbitrary<Value> {
  const edges = edgesWithin(s, true);
  const plain = plainInteger(s);
  return edges.length ? fc.oneof({ weight: 3, arbitrary: plain }, { weight: 1, arbitrary: fc.constantFrom(...edges) }) : plain;
}

function plainInteger(s: Schema): fc.Arbitrary<Value> {
  let { lo, hi } = bounds(s);
  lo = Math.ceil(typeof s.exclusiveMinimum === 'number' ? lo + 1e-9 : lo);
  hi = Math.floor(typeof s.exclusiveMaximum === 'number' ? hi - 1e-9 : hi);
  if (lo > hi) return fc.constant(lo);
  const small = fc.integer({ min: Math.max(lo, -1000), max: Math.max(Math.min(hi, 1000), Math.max(lo, -1000)) });
  return fc.oneof({ weight: 3, arbitrary: small }, { weight: 1, arbitrary: fc.bigInt({ min: BigInt(lo), max: BigInt(hi) }).map(Number) });
}

function numberOf(s: Schema): fc.Arbitrary<Value> {
  const { lo, hi } = bounds(s);
  const opts = { min: lo, max: hi, noNaN: true, noDefaultInfinity: true, minExcluded: typeof s.exclusiveMinimum === 'number', maxExcluded: typeof s.exclusiveMaximum === 'number' };
  const edges = edgesWithin(s, false);
  return fc.oneof(fc.double(opts), integerOf(s), ...(edges.length ? [fc.constantFrom(...edges)] : []));
}

function objectOf(s: Schema, ctx: GenContext, depth: number): fc.Arbitrary<Value> {
  const props: Record<string, Schema> = s.properties ?? {};
  const required: string[] = (s.required ?? []).filter((k: string) => k in props);
  // Deep in a schema, only what is required: keeps generated bodies small.
  const keys = depth >= MAX_DEPTH ? required : Object.keys(props);
  const model = Object.fromEntries(keys.map((k) => [k, validValue(props[k]!, ctx, k, depth + 1)]));
  const known = fc.record(model, { requiredKeys: required }) as fc.Arbitrary<Record<string, Value>>;
  const extra = s.additionalProperties;
  if (!extra || typeof extra !== 'object' || depth >= MAX_DEPTH) return known;
  const key = s.propertyNames?.pattern ? fc.stringMatching(new RegExp(s.propertyNames.pattern)) : fc.string({ minLength: 1, maxLength: 12 });
  const more = fc.dictionary(key, validValue(extra, ctx, undefined, depth + 1), { maxKeys: 3 });
  return fc.tuple(known, more).map(([k, m]) => ({ ...m, ...k }));
}

function anyJson(): fc.Arbitrary<Value> {
  return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Value>;
}

/** Values that break most schemas: wrong types, huge and negative numbers, empty and long strings. */
export const ODD_VALUES: Value[] = [1e120, -1e120, -1, 0, 1.5, -0.5, 2 ** 53 + 2, '', ' ', 'x'.repeat(5000), null, true, false, [], {}, '1e120', '-1', '\u0000', '☃😀'.repeat(50), [[[]]], { a: { b: {} } }];

type Mutation = { kind: 'replace'; with: Value } | { kind: 'extraKey'; key: string; with: Value } | { kind: 'nest'; depth: number; array: boolean } | { kind: 'drop' };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('replace' as const), with: fc.constantFrom(...ODD_VALUES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('extraKey' as const), key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'extra')), with: fc.constantFrom(...ODD_VALUES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nest' as const), depth: fc.integer({ min: 20, max: 10_000 }), array: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const) }) },
);

/** A valid value with one node broken by a mutation; `undefined` when the mutation dropped the root. */
export function mutated(valid: fc.Arbitrary<Value>): fc.Arbitrary<Value | undefined> {
  return fc.tuple(valid, mutation, fc.nat()).map(([v, m, pick]) => applyMutation(v, m, pick));
}

function applyMutation(root: Value, m: Mutation, pick: number): Value | undefined {
  const paths = nodePaths(root);
  const path = paths[pick % paths.length]!;
  if (m.kind === 'extraKey') {
    // The nearest object at or above the chosen node gets the key.
    let p = path;
    while (p.length && !isObject(at(root, p))) p = p.slice(0, -1);
    const target = at(root, p);
    if (!isObject(target)) return put({ value: root }, m.key, m.with);
    return setAt(root, p, put({ ...target }, m.key, m.with));
  }
  if (m.kind === 'drop') return path.length === 0 ? undefined : setAt(root, path, undefined);
  const replacement = m.kind === 'replace' ? m.with : new Nested(m.depth, m.array);
  return path.length === 0 ? replacement : setAt(root, path, replacement);
}

const isObject = (v: unknown): v is Record<string, Value> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof FixtureRef) && !(v instanceof Nested);

function nodePaths(v: Value, prefix: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(prefix);
  if (Array.isArray(v)) v.forEach((x, i) => nodePaths(x, [...prefix, i], out));
  else if (isObject(v)) for (const [k, x] of Object.entries(v)) nodePaths(x, [...prefix, k], out);
  return out;
}

const at = (v: Value, path: Array<string | number>): Value | undefined => path.reduce<any>((o, k) => o?.[k], v);

/** A copy of `root` with the node at `path` replaced (`undefined` removes an object key, or an array item). */
function setAt(root: Value, path: Array<string | number>, value: Value | undefined): Value {
  const [head, ...rest] = path;
  if (head === undefined) return value as Value;
  if (Array.isArray(root)) {
    const copy = [...root];
    if (rest.length === 0 && value === undefined) copy.splice(Number(head), 1);
    else copy[Number(head)] = setAt(root[Number(head)]!, rest, value);
    return copy;
  }
  const obj = { ...(root as Record<string, Value>) };
  if (rest.length === 0 && value === undefined) delete obj[head];
  else put(obj, String(head), setAt(obj[head]!, rest, value));
  return obj;
}

/** Sets an own property, even one named `__proto__` (which plain assignment would turn into a prototype). */
function put(obj: Record<string, Value>, key: string, value: Value): Record<string, Value> {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  return obj;
}
