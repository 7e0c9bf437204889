import type { IncomingMessage } from 'node:http';
import { UserError } from '../../core/errors.js';
import { imageName, isImageDigest, parseImageRef } from '../../core/image-ref.js';
import { EngineError, type EngineClient } from './engine.js';
import { encodeRegistryAuth } from './registry-auth.js';

/**
 * Pushing images to a registry and pulling them from one, done by the engine itself
 * (`POST /images/{name}/push`, `POST /images/create`): hangar only passes the user's credentials
 * along and turns the engine's JSON progress stream into readable lines and actionable errors.
 */

export interface DistributionOptions {
  /** The `X-Registry-Auth` value (see `encodeRegistryAuth`); anonymous when absent. */
  auth?: string;
  /** One human line per layer status change (no byte-level progress bars). */
  onProgress?: (line: string) => void;
  signal?: AbortSignal;
}

/** One message of the engine's push/pull stream. */
interface ProgressMessage {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Tag?: string; Digest?: string; Size?: number };
}

type Operation = 'push' | 'pull';

const AUTH_FAILURE = /unauthorized|authentication required|no basic auth credentials|access denied|denied:|requested access to the resource is denied/i;
const NOT_FOUND = /manifest unknown|not found|does not exist|no such image/i;

/**
 * The registry host a reference points at (`docker.io` when it names none): what `registryAuthFor`
 * takes.
 * @throws InvalidImageRefError `invalid_image_ref`
 */
export function registryOf(ref: string): string {
  return parseImageRef(ref).registry;
}

/**
 * Pushes `ref` (which must be tagged locally with its registry's host) and returns the digest of the
 * manifest the registry now holds.
 * @throws UserError `push_failed` (with a `docker login` hint for authentication failures),
 *   `invalid_image_ref`, `docker_unavailable`
 */
export async function pushImage(engine: EngineClient, ref: string, opts: DistributionOptions = {}): Promise<{ digest: string }> {
  const parsed = parseImageRef(ref);
  if (parsed.digest) throw invalidRef(ref, 'a digest cannot be pushed; push a tag');
  let pushed: string | undefined;
  await runStream(engine, 'push', ref, `/images/${encodeURIComponent(imageName(parsed, 'familiar'))}/push`, { tag: parsed.tag ?? 'latest' }, opts, (msg) => {
    if (msg.aux?.Digest && isImageDigest(msg.aux.Digest)) pushed = msg.aux.Digest;
  });
  if (!pushed) throw failure('push', ref, 'the engine finished without reporting the pushed digest', opts.auth);
  return { digest: pushed };
}

/**
 * Pulls `ref` (a tag, `latest` when none is given, or a digest) into the engine.
 * @throws UserError `image_not_found`, `image_pull_failed`, `invalid_image_ref`, `docker_unavailable`
 */
export async function pullImage(engine: EngineClient, ref: string, opts: DistributionOptions = {}): Promise<void> {
  const parsed = parseImageRef(ref);
  await runStream(engine, 'pull', ref, '/images/create', { fromImage: imageName(parsed, 'familiar'), tag: parsed.digest ?? parsed.tag ?? 'latest' }, opts, () => {});
}

/**
 * Sends the request and consumes the progress stream: progress lines go to `onProgress`, every
 * message to `onMessage`, and the first error message (or an HTTP error before the stream starts)
 * becomes a UserError.
 */
async function runStream(
  engine: EngineClient,
  op: Operation,
  ref: string,
  path: string,
  query: Record<string, string>,
  opts: DistributionOptions,
  onMessage: (msg: ProgressMessage) => void,
): Promise<void> {
  const headers = { 'x-registry-auth': opts.auth ?? encodeRegistryAuth(undefined) };
  let res: IncomingMessage;
  try {
    // No timeout: a push or pull legitimately takes as long as the image is large.
    res = await engine.stream('POST', path, { query, headers, signal: opts.signal });
  } catch (err) {
    // Not kept as the cause: the engine's text may quote a credential, and only its redacted form goes on.
    if (err instanceof EngineError) throw failure(op, ref, err.engineMessage, opts.auth, err.status);
    throw err;
  }
  const report = progressReporter(opts.onProgress);
  for await (const msg of jsonLines(res)) {
    const message = msg.errorDetail?.message ?? msg.error;
    if (message) throw failure(op, ref, message, opts.auth);
    report(msg);
    onMessage(msg);
  }
}

/**
 * Collapses the engine's progress into one line per layer status change: a layer reports
 * "Pushing"/"Downloading" with a new progress bar many times a second, and a failed upload counts
 * down "Retrying in N seconds" once a second; neither says anything new to a user. Lines without a
 * layer id (the repository, the final digest) always pass.
 */
function progressReporter(onProgress: ((line: string) => void) | undefined): (msg: ProgressMessage) => void {
  const last = new Map<string, string>();
  return (msg) => {
    if (!onProgress || !msg.status) return;
    if (!msg.id) return onProgress(msg.status);
    const previous = last.get(msg.id);
    last.set(msg.id, msg.status);
    if (previous === msg.status || isCountdownTick(previous, msg.status)) return;
    onProgress(`${msg.id}: ${msg.status}`);
  };
}

const RETRY_COUNTDOWN = /^Retrying in (\d+) seconds?$/;

/** "Retrying in 4 seconds" right after "Retrying in 5 seconds" is the same retry, not a new one. */
function isCountdownTick(previous: string | undefined, status: string): boolean {
  const before = previous === undefined ? null : RETRY_COUNTDOWN.exec(previous);
  const now = RETRY_COUNTDOWN.exec(status);
  return before !== null && now !== null && Number(now[1]) < Number(before[1]);
}

/** Parses a newline-delimited JSON stream as it arrives; a line that is not JSON is skipped. */
async function* jsonLines(res: IncomingMessage): AsyncGenerator<ProgressMessage> {
  let buf = '';
  for await (const chunk of res) {
    buf += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = parseLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      if (msg) yield msg;
    }
  }
  const tail = parseLine(buf);
  if (tail) yield tail;
}

function parseLine(line: string): ProgressMessage | undefined {
  if (line.trim() === '') return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return typeof v === 'object' && v !== null ? (v as ProgressMessage) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns the engine's error text into the UserError a user can act on. `status` is the engine's HTTP
 * status when it refused the request outright (a 400 is a name it does not accept).
 */
function failure(op: Operation, ref: string, engineText: string, auth: string | undefined, status?: number): UserError {
  const registry = registryOf(ref);
  const message = `${op === 'push' ? 'push' : 'pull'} of ${ref} failed: ${redact(engineText, auth)}`;
  const login = `"docker login ${registry}"`;
  if (status === 400) {
    return new UserError({ code: 'invalid_image_ref', kind: 'invalid', message, hint: 'use registry/repository:tag with a lowercase repository, e.g. ghcr.io/acme/app:v1 or 127.0.0.1:5000/app:v1' });
  }
  if (op === 'pull' && NOT_FOUND.test(engineText)) {
    return new UserError({ code: 'image_not_found', kind: 'not_found', message, hint: `check the image name and tag; if ${registry} requires authentication, run ${login} first` });
  }
  const code = op === 'push' ? 'push_failed' : 'image_pull_failed';
  if (AUTH_FAILURE.test(engineText)) {
    return new UserError({ code, kind: 'unauthorized', message, hint: `the registry refused the credentials: run ${login} (or fix its entry in your Docker config) and retry` });
  }
  if (op === 'push' && /does not exist locally|no such image/i.test(engineText)) {
    return new UserError({ code, kind: 'not_found', message, hint: `tag the image as ${ref} on the Docker Engine before pushing it` });
  }
  return new UserError({ code, kind: 'unavailable', message, hint: `check that ${registry} is reachable from the Docker Engine, and that you may ${op} ${imageName(parseImageRef(ref), 'familiar')}` });
}

/**
 * Engines and registries do not echo credentials, but an error message may end up in logs and API
 * answers: any secret from the auth header is blanked out anyway.
 */
function redact(text: string, auth: string | undefined): string {
  let out = text;
  for (const secret of secretsOf(auth)) out = out.split(secret).join('***');
  return out;
}

function secretsOf(auth: string | undefined): string[] {
  if (!auth) return [];
  try {
    const json = JSON.parse(Buffer.from(auth, 'base64url').toString('utf8')) as Record<string, unknown>;
    return [json.password, json.identitytoken, json.auth].filter((v): v is string => typeof v === 'string' && v.length >= 3);
  } catch {
    return [];
  }
}

function invalidRef(ref: string, why: string): UserError {
  return new UserError({
    code: 'invalid_image_ref',
    kind: 'invalid',
    message: `${JSON.stringify(ref)} is not an image reference hangar can push or pull: ${why}`,
    hint: 'use registry/repository:tag, e.g. ghcr.io/acme/app:v1 or 127.0.0.1:5000/app:v1',
  });
}
