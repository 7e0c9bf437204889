import { responseFor, isBare200, type DocValidator, type Operation } from './openapi.js';
import type { Answer } from './send.js';

/**
 * What every answer must satisfy: no 5xx; an error body of the one shape; the token enforced where the
 * document asks for it; a status and a body the document declares (once it declares more than a bare
 * 200); a 405 naming the allowed methods for a method a path does not have; and a request the document
 * calls valid is not refused as invalid.
 */

export interface Violation {
  kind: string;
  message: string;
}

export interface Judged {
  op?: Operation;
  method: string;
  /** The methods the document lists for this path. */
  documented: string[];
  auth: 'token' | 'none' | 'wrong';
  /** Whether the document asks for the token here (for an undocumented method: on any of the path's operations). */
  needsAuth: boolean;
  /** Why the request is not valid per the document (`[]`: valid). */
  invalid: string[];
  /** The URL holds a segment that is not valid percent-encoded UTF-8. */
  badUrl: boolean;
  /** The request's documented fields: parameter names and the body's top-level properties. */
  fields: Set<string>;
}

const ERROR_KEYS = new Set(['error', 'code', 'hint', 'details', 'request_id']);

/** Every rule an answer breaks (`[]`: none). */
export function judge(j: Judged, a: Answer, v: DocValidator): Violation[] {
  const out: Violation[] = [];
  const status = a.status!;
  let json: unknown;
  try {
    json = JSON.parse(a.text);
  } catch {
    // not JSON: judged below where JSON is required
  }
  const body = (json ?? {}) as { code?: unknown; error?: unknown; details?: unknown };
  const code = typeof body.code === 'string' ? body.code : '-';
  if (status >= 500) out.push({ kind: '5xx', message: `answered ${status} ${code}: ${String(body.error ?? a.text).slice(0, 120)}` });
  if (status >= 400) out.push(...errorShape(json, status, code));
  out.push(...authRules(j, status));
  if (!j.op) {
    const allow = String(a.headers.allow ?? '').toUpperCase().split(/\s*,\s*/);
    const missing = j.documented.filter((m) => !allow.includes(m.toUpperCase()));
    if (status !== 405 && status !== 401) out.push({ kind: 'undocumented method', message: `${j.method} on a path without it answered ${status} ${code}, not 405` });
    else if (status === 405 && missing.length) out.push({ kind: 'undocumented method', message: `405 without an Allow header naming ${missing.join(', ')} (got ${JSON.stringify(a.headers.allow ?? null)})` });
    return out;
  }
  if (j.invalid.length === 0) out.push(...refusedAsMalformed(status, code, body.details, j.fields));
  if (!isBare200(j.op)) out.push(...documented(j.op, status, a, json, v));
  return out;
}

/**
 * A request the document calls valid, refused as malformed: a 415, a refused media type, a body the
 * framework could not parse, or `invalid_input` naming a field of the request (request validation says
 * `body.x`/`querystring.x`, a handler's own range check says `x`). `invalid_input` about something else
 * (a line of the TOML inside `config_text`) is about content the document cannot describe: not counted.
 * One violation per field, as where it is and its property name (`body.config.checks.web.interval` →
 * `body…interval`; record keys and indexes are values, not causes).
 */
function refusedAsMalformed(status: number, code: string, details: unknown, fields: Set<string>): Violation[] {
  const malformed = (message: string) => ({ kind: 'valid request refused', message: `a request valid per the document answered ${status} ${code}${message}: the document is looser than the server` });
  if (status === 415 || (status === 400 && (code === 'unsupported_media_type' || code.toLowerCase().startsWith('fst_err_ctp')))) return [malformed('')];
  if (status !== 400 || code !== 'invalid_input') return [];
  const paths = (Array.isArray(details) ? details.map((x: { path?: unknown }) => String(x?.path ?? '')) : []).filter((p) => /^(body|querystring|params|headers)(\.|$)/.test(p) || fields.has(p.split('.')[0]!));
  const field = (p: string) => {
    const segs = p.split('.');
    const name = segs.filter((x) => /^[a-z][a-z_]*$/.test(x)).at(-1) ?? '*';
    return segs.length > 1 && segs[0] !== name ? `${segs[0]}…${name}` : name;
  };
  return [...new Set(paths.map(field))].map((f) => malformed(` about ${f}`));
}

function errorShape(json: unknown, status: number, code: string): Violation[] {
  const bad = (message: string): Violation[] => [{ kind: 'error shape', message: `${status} ${code}: ${message}` }];
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('the error body is not a JSON object');
  const b = json as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof b.error !== 'string') problems.push('error is not a string');
  if (typeof b.code !== 'string') problems.push('code is not a string');
  if (b.hint !== undefined && typeof b.hint !== 'string') problems.push('hint is not a string');
  if (!Array.isArray(b.details)) problems.push('details is not an array');
  if (b.request_id !== undefined && typeof b.request_id !== 'string') problems.push('request_id is not a string');
  const extra = Object.keys(b).filter((k) => !ERROR_KEYS.has(k));
  if (extra.length) problems.push(`unexpected keys ${extra.join(', ')}`);
  return problems.length ? bad(`not {error, code, hint?, details}: ${problems.join('; ')}`) : [];
}

function authRules(j: Judged, status: number): Violation[] {
  if (j.auth === 'token') return [];
  if (!j.needsAuth) return status === 401 ? [{ kind: 'auth', message: 'the document says no token is needed, but the answer is 401' }] : [];
  // A request malformed at the HTTP level may be refused before the token is looked at.
  const early = status === 414 || status === 431 || (status === 400 && j.badUrl);
  return status === 401 || early ? [] : [{ kind: 'auth', message: `the document asks for the token, but without a valid one the answer is ${status}, not 401` }];
}

function documented(op: Operation, status: number, a: Answer, json: unknown, v: DocValidator): Violation[] {
  const resp = responseFor(op, status);
  if (!resp) return [{ kind: 'undocumented status', message: `${status} is not among the documented ${Object.keys(op.responses).join(', ')}` }];
  const content = resp.content;
  if (!content || Object.keys(content).length === 0) {
    return a.text.length ? [{ kind: 'undocumented body', message: `${status} is documented without a body, but one came: ${a.text.slice(0, 120)}` }] : [];
  }
  const type = String(a.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const key = Object.keys(content).find((k) => mediaMatches(k.toLowerCase(), type));
  if (!key) return [{ kind: 'undocumented media type', message: `${status} came as ${type || 'no content type'}, documented: ${Object.keys(content).join(', ')}` }];
  const schema = content[key]!.schema;
  if (!schema) return [];
  if (/ndjson/.test(type)) {
    const lines = a.text.split('\n').filter((l) => l.trim());
    // The last line of a stream we cut may be partial.
    const whole = a.truncated ? lines.slice(0, -1) : lines;
    for (const line of whole) {
      let item: unknown;
      try {
        item = JSON.parse(line);
      } catch {
        return [{ kind: 'schema', message: `an NDJSON line is not JSON: ${line.slice(0, 120)}` }];
      }
      const errs = v.errors(schema, item);
      if (errs.length) return [{ kind: 'schema', message: `an NDJSON line of ${status} does not match the documented schema: ${errs.slice(0, 3).join('; ')}` }];
    }
    return [];
  }
  if (!/json/.test(type)) return [];
  if (json === undefined) return [{ kind: 'schema', message: `${status} says ${type} but its body is not JSON` }];
  const errs = v.errors(schema, json);
  return errs.length ? [{ kind: 'schema', message: `${status} body does not match the documented schema: ${errs.slice(0, 3).join('; ')}` }] : [];
}

function mediaMatches(documentedType: string, actual: string): boolean {
  // Parameters (charset, version) are not part of the media type itself.
  const documented = documentedType.split(';')[0]!.trim();
  if (documented === actual || documented === '*/*') return true;
  const [t, s] = documented.split('/');
  return s === '*' && actual.startsWith(`${t}/`);
}
