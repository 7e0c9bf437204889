import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { httpStatusFor, isUserError, type ErrorDetail } from '../core/errors.js';

/**
 * The one place errors become HTTP responses: `{error, code, hint?, details}`. A UserError maps by its
 * kind; request validation is a 400 naming each bad field; anything else is a logged 500.
 */
export function errorHandler(log: Logger) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (isUserError(err)) {
      return reply.status(httpStatusFor(err.kind)).send({ error: err.message, code: err.code, ...(err.hint ? { hint: err.hint } : {}), details: err.details });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'body';
      const details: ErrorDetail[] = err.validation.map((v) => ({
        path: [where, ...v.instancePath.split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      }));
      const summary = details.map((d) => `${d.path}: ${d.message}`).join('; ');
      return reply.status(400).send({ error: `invalid request: ${summary}`, code: 'invalid_input', details });
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send({ error: err.message, code: (err.code ?? 'bad_request').toLowerCase(), details: [] });
    }
    log.error({ err, url: req.url, method: req.method }, 'request failed');
    return reply.status(500).send({ error: 'internal error (see the daemon log)', code: 'internal', details: [] });
  };
}
