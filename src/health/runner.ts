/**
 * One probe of one check. Runners never throw: every failure (refused, reset, timeout, bad status,
 * abort) becomes `{ ok: false, output }`, because a failing app is the normal case for a health check,
 * not an exception. Each probe opens its own connection and always closes it, so a flapping app cannot
 * leak sockets into the daemon.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { assertNever } from '../core/errors.js';
import type { CheckSpec } from './specs.js';

export interface CheckResult {
  ok: boolean;
  /** One line for humans: `HTTP 200 OK`, `HTTP 500: <body>`, `connect ECONNREFUSED …`, `timeout after 2000ms`. */
  output: string;
}

/** How much of a failing response's body ends up in the output. */
const BODY_PREVIEW_CHARS = 200;

/** Runs the probe that matches `spec.type`. */
export function runCheck(spec: CheckSpec, host: string, signal?: AbortSignal): Promise<CheckResult> {
  switch (spec.type) {
    case 'http':
      return runHttpCheck(spec, host, signal);
    case 'tcp':
      return runTcpCheck(spec, host, signal);
    default:
      return assertNever(spec.type);
  }
}

/**
 * Sends one request; 2xx and 3xx pass (redirects are not followed: answering at all with a redirect
 * means the app is up). `spec.timeoutMs` bounds the whole probe, connect included.
 */
export function runHttpCheck(spec: CheckSpec, host: string, signal?: AbortSignal): Promise<CheckResult> {
  return probeWith(spec, signal, (probe) => {
    const request = spec.protocol === 'https' ? https.request : http.request;
    const req = request({
      host,
      port: spec.port,
      method: spec.method,
      path: spec.path,
      headers: spec.headers,
      // A fresh, non-pooled connection per probe: it measures the app as a new client sees it and
      // leaves nothing behind once the probe is done.
      agent: false,
      // Apps on loopback commonly serve self-signed certificates; the check asks "is it up", not "is
      // its certificate trusted".
      rejectUnauthorized: false,
    });
    probe.onDone(() => req.destroy());
    req.on('error', (err) => probe.finish({ ok: false, output: describeError(err) }));
    req.on('response', (res) => onResponse(res, probe));
    req.end();
  });
}

function onResponse(res: http.IncomingMessage, probe: Probe): void {
  // Tearing down the connection aborts an unread body; that is expected, not worth an error event.
  res.on('error', () => {});
  const status = res.statusCode ?? 0;
  const line = `HTTP ${status} ${res.statusMessage ?? ''}`.trimEnd();
  if (status >= 200 && status < 400) {
    // The body does not matter for a pass; waiting for it would turn a streaming endpoint into a timeout.
    probe.finish({ ok: true, output: line });
    return;
  }
  // Failing: keep the start of the body, it usually says why. A stalled body still reports the status.
  let body = '';
  const done = () => probe.finish({ ok: false, output: body.trim() ? `HTTP ${status}: ${preview(body)}` : line });
  probe.onTimeout(done);
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    body += chunk;
    if (body.length >= BODY_PREVIEW_CHARS) done();
  });
  res.on('end', done);
  res.on('close', done);
}

function preview(body: string): string {
  return body.trim().replace(/\s+/g, ' ').slice(0, BODY_PREVIEW_CHARS);
}

/** Opens one TCP connection and closes it at once; connecting is the whole check. */
export function runTcpCheck(spec: CheckSpec, host: string, signal?: AbortSignal): Promise<CheckResult> {
  return probeWith(spec, signal, (probe) => {
    const socket = net.connect({ host, port: spec.port });
    probe.onDone(() => socket.destroy());
    socket.on('connect', () => probe.finish({ ok: true, output: `TCP connect ${host}:${spec.port}: success` }));
    socket.on('error', (err) => probe.finish({ ok: false, output: describeError(err) }));
  });
}

/**
 * Runs `start` under a fresh `Probe`. Node validates options synchronously (a header value with a
 * newline, a port out of range) and throws; that is a failed check too, not an exception.
 */
function probeWith(
  spec: CheckSpec,
  signal: AbortSignal | undefined,
  start: (probe: Probe) => void,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    const probe = new Probe(spec.timeoutMs, signal, resolve);
    if (probe.settled) return;
    try {
      start(probe);
    } catch (err) {
      probe.finish({ ok: false, output: err instanceof Error ? describeError(err) : String(err) });
    }
  });
}

/** Node's connect errors already read well ("connect ECONNREFUSED 127.0.0.1:1234"); fill in the ones that don't. */
function describeError(err: Error): string {
  // Dual-stack connects (Node 20's autoSelectFamily) fail with an AggregateError whose own message is empty.
  if (err instanceof AggregateError && err.errors.length > 0) return describeError(err.errors[0] as Error);
  if (err.message) return err.message;
  const code = (err as NodeJS.ErrnoException).code;
  return code ?? err.name;
}

/** The shared bookkeeping of one probe: settle exactly once, then tear everything down. */
class Probe {
  settled = false;
  private readonly cleanups: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;
  private readonly onAbort = () => this.finish({ ok: false, output: 'aborted' });
  private onTimeoutFn: () => void;

  constructor(
    timeoutMs: number,
    private readonly signal: AbortSignal | undefined,
    private readonly resolve: (r: CheckResult) => void,
  ) {
    this.onTimeoutFn = () => this.finish({ ok: false, output: `timeout after ${timeoutMs}ms` });
    this.timer = setTimeout(() => this.onTimeoutFn(), timeoutMs);
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  finish(result: CheckResult): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
    for (const fn of this.cleanups) fn();
    this.resolve(result);
  }

  /** Cleanup to run once the probe has settled, however it settled. */
  onDone(fn: () => void): void {
    if (this.settled) fn();
    else this.cleanups.push(fn);
  }

  /** Replaces the default timeout result (used once a status line is known). */
  onTimeout(fn: () => void): void {
    this.onTimeoutFn = fn;
  }
}
