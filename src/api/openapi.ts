import type { SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { NoQuery } from './contract-parts.js';
import { ErrorBody } from './contract-views.js';

/**
 * How each route is documented in `GET /v1/openapi.json`. A route declares its schemas once with
 * `route()`: params, query and body validate requests, `ok` serialises its JSON answers, and the rest
 * (answers the route writes itself, non-JSON bodies, the errors it can answer) only feeds the
 * document. Every operation lists every status it can answer: the ones any route can (bad input,
 * token, method, URL or header size, a bug) plus its own.
 */

type Zod = z.ZodType;

/** Statuses a route may declare for itself; the others follow from its method, params and auth. */
export type RouteErrorStatus = 400 | 404 | 408 | 409 | 412 | 503;

export interface RouteDoc {
  tags: string[];
  summary: string;
  description?: string;
  params?: Zod;
  querystring?: Zod;
  body?: Zod;
  /** JSON answers by status; the daemon serialises through them, so an answer carries only what they say. */
  ok?: Partial<Record<200 | 201 | 202, Zod>>;
  /** A 200 the route writes itself (NDJSON lines, Prometheus text): documented, not serialised. */
  raw?: { mediaType: string; schema: Zod; description: string };
  /** A request body that is not JSON, streamed to the handler: its media type. */
  upload?: string;
  /** What this route's own error statuses mean here. */
  errors?: Partial<Record<RouteErrorStatus, string>>;
  /** Needs no API token. */
  open?: boolean;
}

/** What `route()` leaves in the schema for `documentRoute`. */
interface DocNotes {
  raw?: RouteDoc['raw'];
  upload?: string;
  errors: Partial<Record<RouteErrorStatus, string>>;
  open: boolean;
  optionalBody: boolean;
}

type Built<D extends RouteDoc> = Omit<D, 'ok' | 'raw' | 'upload' | 'errors' | 'open' | 'querystring'> & {
  querystring: D['querystring'] extends Zod ? D['querystring'] : typeof NoQuery;
  response: D['ok'] extends object ? D['ok'] : Record<never, Zod>;
  doc: DocNotes;
};

/** A route's fastify schema from its documentation. Routes without a query schema take no query parameters. */
export function route<const D extends RouteDoc>(d: D): Built<D> {
  const { ok, raw, upload, errors, open, querystring, ...rest } = d;
  const notes: DocNotes = { raw, upload, errors: errors ?? {}, open: open === true, optionalBody: d.body !== undefined && d.body.safeParse(undefined).success };
  return { ...rest, querystring: querystring ?? NoQuery, response: ok ?? {}, ...(open ? { security: [] } : {}), doc: notes } as unknown as Built<D>;
}

const ERROR_MEANING: Record<number, string> = {
  400: 'Invalid request: a path or query parameter or a body field (each named in `details`), malformed JSON or a malformed URL',
  401: 'The API token is missing or wrong',
  404: 'What the path names does not exist',
  405: 'The path exists, but not with this method; the `Allow` header lists its methods',
  408: 'Timed out: the request did not arrive in time',
  409: 'Conflicts with the current state',
  412: 'A precondition does not hold',
  413: 'The body is larger than the daemon takes',
  414: 'The URL, or one of its path segments, is too long',
  415: "The body's media type is not one this operation takes",
  431: 'The request headers are too large',
  500: 'A bug in hangar: `request_id` finds it in the daemon log',
  503: 'Something the daemon needs on its host does not answer',
};

const SUCCESS_MEANING: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted' };

/** Methods fastify reads a body for, and so can answer 413 and 415 to. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type TransformInput = Parameters<typeof jsonSchemaTransform>[0];

/** The swagger transform: fastify-type-provider-zod's, then every status of the route (see `route`). */
export function documentRoute(input: TransformInput): ReturnType<typeof jsonSchemaTransform> {
  const { doc, ...schema } = (input.schema ?? {}) as Record<string, unknown> & { doc?: DocNotes };
  const out = jsonSchemaTransform({ ...input, schema });
  if (!doc || (out.schema as { hide?: boolean }).hide) return out;
  const s = out.schema as Record<string, any>;
  const responses: Record<string, unknown> = {};
  for (const [status, json] of Object.entries((s.response ?? {}) as Record<string, object>)) {
    responses[status] = { ...json, 'x-response-description': SUCCESS_MEANING[Number(status)] ?? 'OK' };
  }
  if (doc.raw) {
    const line = jsonSchemaTransform({ ...input, schema: { response: { 200: doc.raw.schema } } }).schema as { response: Record<string, unknown> };
    responses['200'] = { 'x-response-description': doc.raw.description, content: { [doc.raw.mediaType]: { schema: line.response['200'] } } };
  }
  const methods = ([] as string[]).concat(input.route.method);
  for (const status of errorStatuses(doc, { hasParams: input.url.includes(':'), hasBody: methods.some((m) => BODY_METHODS.has(m)) })) {
    responses[status] = errorResponse(status, doc.errors[status as RouteErrorStatus]);
  }
  s.response = responses;
  if (doc.upload) s.body = { content: { [doc.upload]: { schema: { type: 'string', format: 'binary' } } } };
  if (doc.optionalBody) s['x-optional-body'] = true;
  return out;
}

function errorStatuses(doc: DocNotes, route: { hasParams: boolean; hasBody: boolean }): number[] {
  const statuses = new Set([400, 405, 408, 414, 431, 500]);
  if (!doc.open) statuses.add(401);
  if (route.hasParams) statuses.add(404);
  if (route.hasBody) {
    statuses.add(413);
    statuses.add(415);
  }
  for (const status of Object.keys(doc.errors)) statuses.add(Number(status));
  return [...statuses].sort((a, b) => a - b);
}

function errorResponse(status: number, meaning: string | undefined): Record<string, unknown> {
  const description = meaning ? `${ERROR_MEANING[status]}; ${meaning}` : ERROR_MEANING[status]!;
  const allow = status === 405 ? { headers: { allow: { type: 'string', description: "the path's methods, comma-separated" } } } : {};
  // swagger takes a $ref response's description from a sibling `description`, not x-response-description.
  return { $ref: '#/components/schemas/ErrorBody', description, ...allow };
}

type Operation = { requestBody?: { required?: boolean }; parameters?: Array<{ schema?: Record<string, unknown>; content?: unknown }>; [k: string]: unknown };

/**
 * The swagger object transform: the shared error schema, optional request bodies (swagger marks every
 * body required) and query parameters that carry JSON (`x-json-content`).
 */
export const finishDocument: SwaggerTransformObject = (input) => {
  if (!('openapiObject' in input)) return input.swaggerObject;
  const doc = input.openapiObject as Record<string, any>;
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ErrorBody: errorBodySchema() } };
  for (const item of Object.values(doc.paths ?? {}) as Array<Record<string, Operation>>) {
    for (const op of Object.values(item)) {
      if (op['x-optional-body'] && op.requestBody) op.requestBody.required = false;
      delete op['x-optional-body'];
      for (const p of op.parameters ?? []) {
        const json = p.schema?.['x-json-content'];
        if (json === undefined) continue;
        p.content = { 'application/json': { schema: json } };
        delete p.schema;
      }
    }
  }
  return doc;
};

/** The error schema itself (zod renders a registered schema as a reference into its own `$defs`). */
function errorBodySchema(): Record<string, unknown> {
  const json = z.toJSONSchema(ErrorBody, { target: 'draft-2020-12', io: 'output', unrepresentable: 'any' }) as { $defs?: Record<string, Record<string, unknown>> };
  return json.$defs?.ErrorBody ?? json;
}
