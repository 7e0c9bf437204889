import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { httpStatusFor, isUserError, type ErrorDetail } from '../core/errors.js';
import { INTERNAL_ERROR_CODE, type ErrorBody } from './contract.js';
import { MAX_PARAM_LENGTH } from './contract-parts.js';

export interface ErrorAnswer {
  status: number;
  body: z.infer<typeof ErrorBody>;
}

/** Where an error happened, for the log line of a bug (and of a 5xx the user cannot fix from here). */
export interface ErrorContext {
  log: Logger;
  requestId: string;
  /** More key/values for the log line, e.g. `{ method, url }` or `{ app }`. */
  fields?: Record<string, unknown>;
}

/**
 * The one place errors become HTTP answers: `{error, code, hint?, details, request_id}`. A UserError
 * maps by its kind; request validation is a 400 naming each bad field; a 4xx fastify raised itself
 * (bad JSON, body too large) keeps its status; anything else is a bug: logged with its cause chain
 * under the request id, and answered 500 `internal` with its message, so the CLI can say it is a bug
 * and where to look.
 */
export function errorAnswer(err: unknown, ctx: ErrorContext): ErrorAnswer {
  const request_id = ctx.requestId;
  if (isUserError(err)) {
    const status = httpStatusFor(err.kind);
    // A 503 is an expected state of the host (Docker away, a builder missing), not a bug; the operator
    // still wants it, with what caused it, in the log.
    if (status >= 500) ctx.log.warn({ err, reqId: request_id, code: err.code, ...ctx.fields }, 'request refused: unavailable');
    return { status, body: { error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}), details: err.details, request_id } };
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? 'body';
    const details: ErrorDetail[] = err.validation.flatMap((v) => {
      const path = [where, ...v.instancePath.split('/').filter(Boolean)];
      // One detail per unknown key, so each is named where it is.
      const keys = v.keyword === 'unrecognized_keys' ? (v.params as { keys?: string[] }).keys : undefined;
      if (keys?.length) return keys.map((k) => ({ path: [...path, k].join('.'), message: where === 'querystring' ? 'unknown query parameter' : 'unknown key' }));
      return [{ path: path.join('.'), message: v.message ?? 'invalid' }];
    });
    const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
    return { status: 400, body: { error: `invalid request: ${summary}`, code: 'invalid_input', details, request_id } };
  }
  const e = err as Partial<FastifyError> | undefined;
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    const known = e?.code ? FRAMEWORK_CODES[e.code] : undefined;
    const code = known?.code ?? (e?.code ?? 'bad_request').toLowerCase();
    return { status, body: { error: e?.message ?? 'bad request', code, ...(known?.hint ? { hint: known.hint } : {}), details: [], request_id } };
  }
  ctx.log.error({ err, reqId: request_id, ...ctx.fields }, 'request failed');
  return { status: 500, body: { error: describeBug(err), code: INTERNAL_ERROR_CODE, details: [], request_id } };
}

/**
 * fastify's own 4xx errors, under the codes hangar answers them with (the same for the same problem,
 * whichever part of fastify noticed it).
 */
const FRAMEWORK_CODES: Record<string, { code: string; hint?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { code: 'invalid_json', hint: 'send a JSON body, or no content-type with no body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { code: 'invalid_json', hint: 'send a JSON body, or no content-type with no body' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'unsupported_media_type', hint: 'send JSON bodies as application/json' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { code: 'invalid_content_length' },
  FST_ERR_BAD_URL: { code: 'invalid_url', hint: 'percent-encode path segments (encodeURIComponent)' },
  FST_ERR_MAX_PARAM_LENGTH: { code: 'uri_too_long', hint: `a path segment is at most ${MAX_PARAM_LENGTH} characters` },
  FST_ERR_ROUTE_MISSING_CONTENT_TYPE: { code: 'missing_content_type' },
};

/**
 * Fastify's error handler over `errorAnswer`. A request on the not-found route (an unknown path, or a
 * method its path does not take) gets the 404 or 405 whatever fastify found wrong with its body first.
 */
export function errorHandler(log: Logger, unrouted?: (req: FastifyRequest, reply: FastifyReply) => FastifyReply) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (req.is404 && unrouted) return unrouted(req, reply);
    const { status, body } = errorAnswer(err, { log, requestId: req.id, fields: { method: req.method, url: req.url } });
    return reply.status(status).send(body);
  };
}

/** One line naming what went wrong (`TypeError: …`); the stack and the causes stay in the log. */
function describeBug(err: unknown): string {
  if (!(err instanceof Error)) return `a non-error value was thrown: ${String(err)}`.slice(0, 300);
  const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  return `${name}${err.message}`.replace(/\s*\n\s*/g, ' ').slice(0, 500);
}
