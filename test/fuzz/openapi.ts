import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parseDuration } from '../../src/core/duration.js';

/**
 * Reads the daemon's OpenAPI document into the operations a fuzzer needs, and validates values
 * against its schemas. Both OpenAPI 3.0 (JSON Schema draft 4 style: boolean `exclusiveMinimum`,
 * `nullable`) and 3.1 (JSON Schema 2020-12) documents are read, so the suite keeps working whichever
 * one the daemon serves.
 */

export type Schema = Record<string, any>;

export const HTTP_METHODS = ['get', 'post', 'put', 'patch', 'delete', 'query'] as const;

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  method: string;
  /** The path template, as written in the document (`/v1/apps/{app}`). */
  path: string;
  params: Param[];
  /** `undefined` when the document declares no request body. */
  body?: { required: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { content?: Record<string, { schema?: Schema }> }>;
  /** Whether the document says this operation needs the bearer token. */
  needsAuth: boolean;
}

/** `METHOD /path` of an operation or request, for messages. */
export const opName = (method: string, path: string) => `${method.toUpperCase()} ${path}`;

/** Every operation of the document, in document order. */
export function operations(doc: Schema): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries<Schema>(doc.paths ?? {})) {
    const shared: Schema[] = item.parameters ?? [];
    for (const method of Object.keys(item)) {
      if (!(HTTP_METHODS as readonly string[]).includes(method)) continue;
      const op = item[method];
      const params = [...shared, ...(op.parameters ?? [])].map((p: Schema) => deref(doc, p)).map((p: Schema) => ({ name: p.name, in: p.in, required: p.required === true || p.in === 'path', schema: p.schema ?? {} }));
      const rb = op.requestBody ? deref(doc, op.requestBody) : undefined;
      const security: Schema[] = op.security ?? doc.security ?? [];
      out.push({
        method,
        path,
        params,
        body: rb ? { required: rb.required === true, content: rb.content ?? {} } : undefined,
        responses: Object.fromEntries(Object.entries<Schema>(op.responses ?? {}).map(([k, v]) => [k, deref(doc, v)])),
        // `security: []`, or a requirement list holding `{}`, means anonymous access is allowed.
        needsAuth: security.length > 0 && !security.some((s) => Object.keys(s).length === 0),
      });
    }
  }
  return out;
}

/** The documented methods of each path template. */
export function methodsByPath(ops: Operation[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const o of ops) m.set(o.path, [...(m.get(o.path) ?? []), o.method]);
  return m;
}

/** An operation that documents nothing but a `200` without content: what the document must not say. */
export const isBare200 = (o: Operation) => Object.keys(o.responses).join() === '200' && !o.responses['200']!.content;

/** The documented response for a status: exact, then `4XX`-style ranges, then `default`. */
export function responseFor(o: Operation, status: number) {
  return o.responses[String(status)] ?? o.responses[`${String(status)[0]}XX`] ?? o.responses[`${String(status)[0]}xx`] ?? o.responses.default;
}

function deref(doc: Schema, v: Schema): Schema {
  let cur = v;
  for (let i = 0; cur && typeof cur.$ref === 'string' && i < 20; i++) cur = pointer(doc, cur.$ref);
  return cur;
}

/** Resolves a local `#/a/b` reference in the document. */
export function pointer(doc: Schema, ref: string): Schema {
  const local = ref.replace(/^doc#/, '#');
  if (!local.startsWith('#/')) throw new Error(`only references into the document are supported, got ${ref}`);
  return local
    .slice(2)
    .split('/')
    .map((s) => decodeURIComponent(s).replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((o: Schema, k) => o?.[k], doc);
}

/**
 * Validates values against schemas of the document. References into the document resolve against it;
 * a 3.0 document is first rewritten into plain JSON Schema. `coerce` validates query and path values
 * (strings on the wire) as the server reads them.
 */
export class DocValidator {
  private readonly strictAjv: Ajv;
  private readonly coercingAjv: Ajv;
  private readonly cache = new WeakMap<Schema, ValidateFunction>();
  private readonly coercingCache = new WeakMap<Schema, ValidateFunction>();
  /** The document as plain JSON Schema sees it (references rewritten, 3.0 keywords translated): generate from this one. */
  readonly doc: Schema;

  constructor(raw: Schema) {
    const is31 = String(raw.openapi ?? '').startsWith('3.1');
    this.doc = is31 ? rewriteRefs(structuredClone(raw)) : rewriteRefs(fromOpenApi30(structuredClone(raw)));
    const make = (coerceTypes: boolean) => {
      const opts = { strict: false, allErrors: true, coerceTypes, logger: false as const, validateFormats: true };
      const ajv: Ajv = is31 ? (new Ajv2020(opts) as unknown as Ajv) : new Ajv(opts);
      ajv.addFormat('date-time', { type: 'string', validate: (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i.test(s) && !Number.isNaN(Date.parse(s)) });
      ajv.addFormat('uri', { type: 'string', validate: (s: string) => URL.canParse(s) });
      // The document states each duration's range in this extension (a pattern cannot say "at most 24h").
      ajv.addKeyword({
        keyword: 'x-duration-ms',
        schemaType: 'object',
        validate: (range: { minimum: number; maximum: number }, data: unknown) => {
          if (typeof data !== 'string' && typeof data !== 'number') return true;
          const ms = parseDuration(data);
          return ms !== undefined && ms >= range.minimum && ms <= range.maximum;
        },
      });
      // A document-wide schema, so `doc#/components/schemas/X` references resolve.
      ajv.addSchema({ $id: 'doc', components: this.doc.components ?? {}, paths: {} }, undefined, undefined, false);
      return ajv;
    };
    this.strictAjv = make(false);
    this.coercingAjv = make(true);
  }

  /** Error messages of `value` against `schema` (a schema of the translated document); `[]` when valid. */
  errors(schema: Schema, value: unknown, opts: { coerce?: boolean } = {}): string[] {
    const cache = opts.coerce ? this.coercingCache : this.cache;
    let fn = cache.get(schema);
    if (!fn) {
      // Coercion rewrites its input in place, and only inside a parent: validate `{v: value}`.
      fn = (opts.coerce ? this.coercingAjv : this.strictAjv).compile({ type: 'object', properties: { v: schema }, required: ['v'] });
      cache.set(schema, fn);
    }
    return fn({ v: opts.coerce ? structuredClone(value) : value }) ? [] : (fn.errors ?? []).map((e) => `${e.instancePath.replace(/^\/v/, '') || '(value)'} ${e.message}`);
  }
}

/** `#/components/...` → `doc#/components/...`, so a schema compiled on its own still finds its references. */
function rewriteRefs(node: any): any {
  if (Array.isArray(node)) node.forEach(rewriteRefs);
  else if (node && typeof node === 'object') {
    if (typeof node.$ref === 'string' && node.$ref.startsWith('#/')) node.$ref = `doc${node.$ref}`;
    for (const v of Object.values(node)) rewriteRefs(v);
  }
  return node;
}

/** OpenAPI 3.0's schema dialect → JSON Schema draft 7: boolean exclusive bounds and `nullable`. */
function fromOpenApi30(node: any): any {
  if (Array.isArray(node)) node.forEach(fromOpenApi30);
  else if (node && typeof node === 'object') {
    for (const [flag, bound] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
      if (node[flag] === true && typeof node[bound] === 'number') {
        node[flag] = node[bound];
        delete node[bound];
      } else if (node[flag] === false) delete node[flag];
    }
    if (node.nullable === true) {
      const { nullable: _, ...rest } = node;
      for (const k of Object.keys(node)) delete node[k];
      node.anyOf = [rest, { type: 'null' }];
    }
    for (const v of Object.values(node)) fromOpenApi30(v);
  }
  return node;
}
