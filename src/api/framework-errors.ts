import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { REQUEST_ID_HEADER, type ErrorBodyView } from './contract.js';
import { errorAnswer } from './errors.js';

/**
 * Answers to requests that reach no route: an unknown path (404), a known path with another method
 * (405 with `Allow`), a URL the router refuses, and what Node's HTTP parser refuses before fastify sees
 * the request (431 headers too large, 414 request line too long, an unknown method). All of them in the
 * one error shape, with a request id.
 */

/** The methods of each route path, to answer 405 with the right `Allow`. */
export class RouteMethods {
  private readonly routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];

  /** For fastify's `onRoute` hook. */
  add(method: string | string[], url: string): void {
    const source = `^${url.split('/').map((part) => (part.startsWith(':') ? '[^/]+' : escapeRegex(part))).join('/')}$`;
    let entry = this.routes.find((r) => r.pattern.source === source);
    if (!entry) this.routes.push((entry = { pattern: new RegExp(source), methods: new Set() }));
    for (const m of ([] as string[]).concat(method)) entry.methods.add(m.toUpperCase());
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
  }

  /** The methods `path` answers to (sorted), empty when no route has that path. */
  allowed(path: string): string[] {
    const out = new Set<string>();
    for (const r of this.routes) if (r.pattern.test(path)) for (const m of r.methods) out.add(m);
    return [...out].sort();
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The 404 or 405 for a request no route takes. */
export function unroutedAnswer(methods: RouteMethods, method: string, url: string, requestId: string): { status: number; body: ErrorBodyView; allow?: string } {
  const path = url.split('?')[0]!;
  const allowed = methods.allowed(path);
  if (allowed.length === 0) return { status: 404, body: { error: `no route ${method} ${path}`, code: 'route_not_found', details: [], request_id: requestId } };
  const allow = allowed.join(', ');
  return {
    status: 405,
    allow,
    body: { error: `${path} does not take ${method}; it takes ${allow}`, code: 'method_not_allowed', hint: `use one of: ${allow}`, details: [], request_id: requestId },
  };
}

/** fastify's not-found handler (and the error handler's answer for a request on the not-found route). */
export function sendUnrouted(methods: RouteMethods, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { status, body, allow } = unroutedAnswer(methods, req.method, req.url, req.id);
  if (allow) reply.header('allow', allow);
  return reply.status(status).send(body);
}

/** fastify's `frameworkErrors`: a malformed URL, or a path segment past the router's limit. */
export function frameworkErrors(log: Logger) {
  return (err: Error, req: FastifyRequest, reply: FastifyReply) => {
    reply.header(REQUEST_ID_HEADER, req.id);
    const { status, body } = errorAnswer(err, { log, requestId: req.id, fields: { method: req.method } });
    return reply.status(status).send(body);
  };
}

type ParserError = Error & { code?: string; rawPacket?: unknown };

/** Half of Node's header limit (16 KiB by default, the request line included). */
const LONG_URL = Math.floor(maxHeaderSize / 2);

/**
 * fastify's `clientErrorHandler`: Node's HTTP parser refused the request (no fastify request exists).
 * A request line too long for the parser is a 414, other header overflow a 431, an unknown method on
 * a known path a 405; the rest a 400 naming the parser's complaint.
 */
export function clientErrorHandler(methods: RouteMethods, log: Logger) {
  return (err: ParserError, socket: Socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const requestId = ulid();
    const { status, body, allow } = clientErrorAnswer(methods, err, requestId);
    log.debug({ reqId: requestId, code: err.code, status }, 'request refused by the HTTP parser');
    if (socket.writable) {
      const text = JSON.stringify(body);
      const headers = [
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
        'content-type: application/json; charset=utf-8',
        `content-length: ${Buffer.byteLength(text)}`,
        `${REQUEST_ID_HEADER}: ${requestId}`,
        ...(allow ? [`allow: ${allow}`] : []),
        'connection: close',
      ];
      socket.write(`${headers.join('\r\n')}\r\n\r\n${text}`);
    }
    socket.destroy();
  };
}

export function clientErrorAnswer(methods: RouteMethods, err: ParserError, requestId: string): { status: number; body: ErrorBodyView; allow?: string } {
  const answer = (status: number, code: string, error: string, hint?: string) => ({ status, body: { error, code, ...(hint ? { hint } : {}), details: [], request_id: requestId } });
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket.toString('latin1') : '';
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // The parser counts the request line against the header limit: when the URL takes half of it, the URL is what is too long.
    const requestLine = /^[A-Z-]+ \S/.test(raw) ? raw.split('\r\n', 1)[0]! : '';
    if (requestLine.length >= LONG_URL) return answer(414, 'uri_too_long', 'the request URL is too long', `keep URLs under ${Math.floor(LONG_URL / 1024)} KiB`);
    return answer(431, 'headers_too_large', 'the request headers are too large', `keep all request headers together under ${Math.floor(maxHeaderSize / 1024)} KiB`);
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return answer(408, 'request_timeout', 'the request was not received in time');
  const line = /^(\S+) (\S+) HTTP\/1\.[01]\r?\n/.exec(raw);
  if (err.code === 'HPE_INVALID_METHOD' && line) return unroutedAnswer(methods, line[1]!, line[2]!, requestId);
  return answer(400, 'bad_request', `malformed HTTP request (${err.code ?? err.message})`);
}
