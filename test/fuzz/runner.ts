import { parseDuration } from '../../src/core/duration.js';
import type { TestDaemon } from '../helpers.js';
import { judge, type Violation } from './checks.js';
import type { Fixture } from './fixture.js';
import { opName, pointer, type DocValidator, type Operation } from './openapi.js';
import { roleOf, type RequestSpec, type WireValue } from './requests.js';
import { FixtureRef, Nested, type Value } from './schema-arbitrary.js';
import { curlOf, send, type Answer, type Wire } from './send.js';

/** Sends planned requests one at a time (the daemon is stateful), judges each, and keeps the distinct failures. */

export interface Planned {
  index: number;
  spec: RequestSpec;
}

export interface Failure {
  kind: string;
  message: string;
  count: number;
  /** The operations (`METHOD /path`) it happened on. */
  where: Set<string>;
  /** The first requests it happened on, for HANGAR_FUZZ_ONLY. */
  indices: number[];
  example: string;
}

/** Kinds whose cause is one for every route (the framework's error shape, say): grouped across routes. */
const ACROSS_ROUTES = new Set(['error shape', 'auth', 'undocumented method', 'connection']);

/** No answer within this is a hang (long polls excepted). */
const ANSWER_MS = 10_000;
/** Waits the request itself asked for are cut short here, and not judged. */
const LONG_POLL_MS = 1_500;
/** Followed streams are read this long. */
const STREAM_MS = 500;
const PADDING = 'p'.repeat(20_000);

export class Runner {
  readonly failures = new Map<string, Failure>();
  /** Answers by status class (`2xx`…, `none`), and how many requests were valid per the document: is the run meaningful. */
  readonly stats = { byClass: new Map<string, number>(), valid: 0, succeeded: new Set<string>() };
  /** Set when the daemon stopped answering: nothing after it can be judged. */
  down?: string;

  constructor(
    private readonly d: TestDaemon,
    private readonly validator: DocValidator,
    private readonly methods: Map<string, string[]>,
    private readonly replay: string,
  ) {}

  record(v: Violation, where: string, example: string, index?: number): void {
    const key = `${v.kind} | ${ACROSS_ROUTES.has(v.kind) ? '' : where} | ${normalise(v.message)}`;
    const f = this.failures.get(key) ?? { kind: v.kind, message: v.message, count: 0, where: new Set<string>(), indices: [], example };
    this.failures.set(key, f);
    f.count++;
    f.where.add(where);
    if (index !== undefined && f.indices.length < 10) f.indices.push(index);
  }

  async run(p: Planned, fixture: Fixture): Promise<void> {
    try {
      await fixture.releaseLeases(p.index);
      await fixture.refresh();
      for (const v of await fixture.restore()) this.record(v, `before request #${p.index}`, '');
    } catch (err) {
      // The fixture cannot be read back: nothing after this can be judged.
      this.down = `before request #${p.index}: ${(err as Error).message}`;
      this.record({ kind: 'daemon down', message: this.down }, opName(p.spec.method, p.spec.template), '', p.index);
      return;
    }
    const { wire, machineId, invalid, badUrl } = this.resolve(p.spec, fixture);
    const longPoll = isLongPoll(p.spec, machineId ? fixture.stopWaitMs(machineId) : 0);
    const answer = await send(this.d.url, wire, { answerMs: longPoll ? LONG_POLL_MS : ANSWER_MS, streamMs: STREAM_MS });
    const where = opName(p.spec.method, p.spec.template);
    const cls = answer.status ? `${String(answer.status)[0]}xx` : 'none';
    this.stats.byClass.set(cls, (this.stats.byClass.get(cls) ?? 0) + 1);
    if (invalid.length === 0) this.stats.valid++;
    if (cls === '2xx') this.stats.succeeded.add(where);
    if (process.env.HANGAR_FUZZ_TRACE) console.log(`#${p.index} ${wire.method} ${wire.target.slice(0, 160)} ${wire.body?.slice(0, 160) ?? ''} → ${answer.status ?? answer.error ?? 'no answer'} ${answer.text.slice(0, 160)}`);
    const example = () => describe(p, wire, answer, this.d.url, this.replay);
    if (answer.timedOut || answer.error) {
      if (answer.error || !longPoll) this.record({ kind: answer.error ? 'connection' : 'hang', message: answer.error ?? `no answer within ${ANSWER_MS} ms` }, where, example(), p.index);
      if (answer.timedOut && !longPoll && machineId) fixture.wedged.add(machineId);
    } else {
      const documented = this.methods.get(p.spec.template) ?? [];
      const needsAuth = p.spec.op ? p.spec.op.needsAuth : true;
      const fields = p.spec.op ? this.fieldsOf(p.spec.op) : new Set<string>();
      for (const v of judge({ op: p.spec.op, method: p.spec.method, documented, auth: p.spec.auth, needsAuth, invalid, badUrl, fields }, answer, this.validator)) this.record(v, where, example(), p.index);
      if (p.spec.template.endsWith('/lease') && p.spec.method === 'POST' && answer.status === 201 && machineId) fixture.noteLease(machineId, safeJson(answer.text), p.index);
    }
    const health = await send(this.d.url, { method: 'GET', target: '/health', headers: {} }, { answerMs: 5_000, streamMs: STREAM_MS });
    if (health.status !== 200 || this.d.proc.exitCode !== null) {
      this.down = `after request #${p.index} the daemon ${this.d.proc.exitCode !== null ? `exited (${this.d.proc.exitCode})` : `no longer answers /health (${health.status ?? health.error ?? 'timeout'})`}`;
      this.record({ kind: 'daemon down', message: this.down }, where, example(), p.index);
    }
  }

  /** The request on the wire, with fixture values in, and whether the document calls it valid. */
  private resolve(spec: RequestSpec, fixture: Fixture): { wire: Wire; machineId?: string; invalid: string[]; badUrl: boolean } {
    const invalid: string[] = [];
    const params = new Map((spec.op?.params ?? []).map((p) => [`${p.in}:${p.name}`, p]));
    let badUrl = false;
    let machineId: string | undefined;
    const segments = spec.template.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const wv = spec.path[name]!;
      const text = wireText(wv, fixture);
      if (roleOf(spec.template, name) === 'machine' && 'value' in wv && wv.value instanceof FixtureRef) machineId = text;
      const decoded = decodeOrUndefined(text);
      if (decoded === undefined) badUrl = true;
      if (decoded === undefined || ['.', '..'].includes(decoded)) invalid.push(`path ${name}: not a plain segment`);
      else this.judgeParam(params.get(`path:${name}`)?.schema, decoded, `path ${name}`, invalid);
      return text;
    });
    const seen = new Set<string>();
    const query = spec.query.map(([name, wv]) => {
      const text = wireText(wv, fixture);
      const p = params.get(`query:${name}`);
      if (!p) invalid.push(`query ${name}: not a documented parameter`);
      if (seen.has(name)) invalid.push(`query ${name}: given twice`);
      seen.add(name);
      const decoded = decodeOrUndefined(text);
      if (decoded === undefined) invalid.push(`query ${name}: not percent-encoded UTF-8`);
      else if (p) this.judgeParam(p.schema, decoded, `query ${name}`, invalid);
      return `${encodeURIComponent(name)}=${text}`;
    });
    for (const p of spec.op?.params ?? []) if (p.in === 'query' && p.required && !seen.has(p.name)) invalid.push(`query ${p.name}: missing`);
    const headers: Record<string, string> = {};
    if (spec.auth !== 'none') headers.authorization = spec.auth === 'token' ? `Bearer ${this.d.token}` : 'Bearer wrong-token';
    if (spec.bigHeader) {
      headers['x-padding'] = PADDING;
      invalid.push('a header past the size limit');
    }
    const lease = machineId ? fixture.leases.get(machineId) : undefined;
    if (spec.nonce && lease) headers['hangar-lease-nonce'] = lease.nonce;
    const body = this.bodyOf(spec, fixture, headers, invalid);
    if (!spec.op) invalid.push('an undocumented method');
    const target = segments + (query.length ? `?${query.join('&')}` : '');
    return { wire: { method: spec.method, target, headers, body }, machineId, invalid, badUrl };
  }

  private bodyOf(spec: RequestSpec, fixture: Fixture, headers: Record<string, string>, invalid: string[]): string | undefined {
    const declared = spec.op?.body;
    const b = spec.body;
    if (b.kind === 'none') {
      if (declared?.required) invalid.push('body: missing');
      return undefined;
    }
    if (b.contentType) headers['content-type'] = b.contentType;
    const media = declared?.content[b.contentType ?? ''];
    if (!declared || !media) invalid.push(`body: ${declared ? `media type ${b.contentType} not documented` : 'not documented'}`);
    if (b.kind === 'raw') {
      invalid.push('body: not generated from the schema');
      return b.text;
    }
    if (b.value === undefined) {
      invalid.push('body: empty');
      return '';
    }
    const value = deepResolve(b.value, fixture);
    if (media?.schema) for (const e of this.validator.errors(media.schema, expand(value))) invalid.push(`body ${e}`);
    return toJson(value);
  }

  /** Parameter names and the top-level properties of the JSON body, as the document gives them. */
  private fieldsOf(op: Operation): Set<string> {
    const media = Object.entries(op.body?.content ?? {}).find(([t]) => /json/.test(t))?.[1];
    const schema = media?.schema?.$ref ? pointer(this.validator.doc, media.schema.$ref) : media?.schema;
    return new Set([...op.params.map((p) => p.name), ...Object.keys(schema?.properties ?? {})]);
  }

  private judgeParam(schema: Operation['params'][number]['schema'] | undefined, decoded: string, where: string, invalid: string[]): void {
    if (!schema) return;
    for (const e of this.validator.errors(schema, decoded, { coerce: true })) invalid.push(`${where} ${e}`);
  }
}

/**
 * Waits that were asked for: `/wait`, a stop or restart given a timeout past our deadline, and anything
 * that stops a machine whose own stop_config allows it that long (a generated machine may ignore its
 * signal and have a long timeout). A forced destroy must not wait, so it is always judged.
 */
function isLongPoll(spec: RequestSpec, stopWaitMs: number): boolean {
  if (spec.template.endsWith('/wait')) return true;
  const bodyTimeout = spec.body.kind === 'json' ? parseDuration((spec.body.value as { timeout?: unknown } | undefined)?.timeout) : undefined;
  if (/\/(stop|restart)$/.test(spec.template) && (bodyTimeout ?? 0) > ANSWER_MS / 2) return true;
  const forced = spec.query.some(([n, v]) => n === 'force' && 'value' in v && v.value === 'true');
  const stops = spec.method !== 'GET' && (/\/(stop|restart)$/.test(spec.template) || spec.template.endsWith('/machines/{id}')) && !(spec.method === 'DELETE' && forced);
  return stops && bodyTimeout === undefined && stopWaitMs > ANSWER_MS / 2;
}

function wireText(wv: WireValue, fixture: Fixture): string {
  if ('raw' in wv) return wv.raw;
  const v = deepResolve(wv.value, fixture);
  const s = typeof v === 'string' ? v : Array.isArray(v) ? v.join(',') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  try {
    return encodeURIComponent(s);
  } catch {
    // a lone surrogate: send the bytes it would be, which are not valid UTF-8
    return '%ED%A0%80';
  }
}

/** Fixture references replaced by real values; any URL pointed at a closed loopback port, so nothing leaves the machine. */
function deepResolve(v: Value, fixture: Fixture): unknown {
  if (v instanceof FixtureRef) return fixture.resolve(v);
  if (v instanceof Nested) return v;
  if (typeof v === 'string') return v.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#\s]*/i, 'http://127.0.0.1:9');
  if (Array.isArray(v)) return v.map((x) => deepResolve(x, fixture));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: deepResolve(x, fixture), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

const NESTED = '\u0000nested\u0000';

/** JSON text of a resolved body, deep nesting written out in place of its marker. */
function toJson(value: unknown): string {
  const deep: Nested[] = [];
  const parts = JSON.stringify(value, (_k, v) => (v instanceof Nested ? (deep.push(v), NESTED) : v)).split(JSON.stringify(NESTED));
  return parts.map((p, i) => (i < deep.length ? p + deep[i]!.json() : p)).join('');
}

/** The resolved body as the server will parse it, for the validator. */
const expand = (value: unknown): unknown => JSON.parse(toJson(value));

function decodeOrUndefined(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Messages differ by ids, numbers and long values; failures are grouped without them. */
function normalise(message: string): string {
  return message
    .replace(/[0-9a-f]{14}|[0-9A-HJKMNP-TV-Z]{26}/g, '<id>')
    .replace(/SIG[A-Z0-9]+/g, 'SIG…')
    .replace(/'[^']*'|"[^"]*"/g, '…')
    .replace(/\d+/g, '<n>')
    .replace(/(.)\1{20,}/g, '$1…')
    .slice(0, 160);
}

function describe(p: Planned, wire: Wire, a: Answer, base: string, replay: string): string {
  const body = wire.body === undefined ? '(none)' : wire.body.length > 600 ? `${wire.body.slice(0, 600)}…(${wire.body.length} bytes)` : wire.body;
  const target = wire.target.length > 300 ? `${wire.target.slice(0, 300)}…(${wire.target.length} chars)` : wire.target;
  const answer = a.status === undefined ? a.error ?? 'no answer' : `${a.status} ${a.text.replace(/\s+/g, ' ').slice(0, 300)}`;
  return [
    `request #${p.index} (${replay}), token: ${p.spec.auth}`,
    `  ${wire.method} ${target}`,
    `  body: ${body}`,
    `  answer: ${answer}`,
    `  again: ${curlOf(base, wire)}`,
  ].join('\n');
}
