/**
 * Builds images with a Docker Engine: a snapshot stream is unpacked into a scratch directory, sent to
 * the engine as a tar build context, and built by its classic builder with the app's Dockerfile. RUN
 * steps get no network, and nothing is pulled: a build uses only what this host already has. The
 * engine's progress reaches `onOutput` line by line while the build runs. A timeout or a cancel closes
 * the connection, which makes the engine stop the build and remove its container. The scratch
 * directory never outlives the call.
 */
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { formatDuration } from '../core/duration.js';
import { UserError } from '../core/errors.js';
import { EngineError, isEngineStatus, type EngineClient } from '../runtime/docker/engine.js';
import { tar, type TarEntry } from '../runtime/docker/tar.js';
import { BUILD_OUTPUT_TAIL, buildCancelled, MAX_LINE_CHARS, outputDetails, removeTree, throwIfCancelled, unpackInto, type OutputStream } from './builder.js';

export interface DockerBuildOptions {
  /** The tag the image gets, e.g. `hangar.local/myapp:deployment-01J…`. */
  tag: string;
  /** Path of the Dockerfile relative to the build context; `Dockerfile` when absent. */
  dockerfile?: string;
  /** The stage of a multi-stage Dockerfile to build (later stages are not built). */
  target?: string;
  /** Values for the Dockerfile's `ARG`s. */
  args?: Record<string, string>;
  /** Limit for the engine's part of the build (the upload is bounded by the connection, not by this). */
  timeoutMs: number;
  /** Aborting stops the build and fails it with `build_cancelled`. */
  signal?: AbortSignal;
  /** Every line of the engine's progress and of the RUN steps' output, as it comes (without the newline). */
  onOutput: (stream: OutputStream, line: string) => void;
}

export interface DockerBuildResult {
  /** The image id (`sha256:…`) the tag points at. */
  id: string;
  tag: string;
}

/** The Dockerfile looked for when the app names none. */
export const DEFAULT_DOCKERFILE = 'Dockerfile';

/** The engine marks the stderr of a RUN step with these ANSI colour codes (and nothing else with them). */
const STDERR_START = '\u001b[91m';
const STDERR_END = '\u001b[0m';
/** How the classic builder's own messages begin (a step, a step's result, its container's removal). */
const BUILDER_MESSAGE = /^(Step \d+\/\d+ : | ---> |Removing intermediate container |Successfully (built|tagged) )/;
/** ustar ends with two zero blocks; `tar()` appends them to every archive it writes. */
const END_OF_ARCHIVE = 1024;

export class DockerImageBuilder {
  /** `tmpRoot`: where scratch directories go; a directory under HANGAR_HOME that is wiped at start is ideal. */
  constructor(private readonly opts: { engine: EngineClient; tmpRoot: string }) {}

  /**
   * Unpacks `input` (a snapshot stream), builds it with the engine and tags the image `opts.tag`.
   * @throws UserError `image_corrupt` (bad stream), `dockerfile_not_found`, `docker_context_unsupported`
   * (a path tar cannot carry), `build_failed` (the engine reported an error), `build_timeout`,
   * `build_cancelled` (signal aborted), `docker_unavailable` (no engine answers); `build_failed` and
   * `build_timeout` carry the last `BUILD_OUTPUT_TAIL` output lines as details `{path: 'build.output', message: line}`.
   */
  async build(input: Readable, opts: DockerBuildOptions): Promise<DockerBuildResult> {
    await fs.promises.mkdir(this.opts.tmpRoot, { recursive: true });
    const dir = await fs.promises.mkdtemp(path.join(this.opts.tmpRoot, 'docker-build-'));
    try {
      await unpackInto(input, dir, opts.signal);
      const dockerfile = await locateDockerfile(dir, opts.dockerfile ?? DEFAULT_DOCKERFILE);
      throwIfCancelled(opts.signal);
      await runEngineBuild(this.opts.engine, dir, dockerfile, opts);
      return { id: await taggedImageId(this.opts.engine, opts.tag), tag: opts.tag };
    } finally {
      await removeTree(dir);
    }
  }
}

/**
 * Checks the Dockerfile is a file inside the context and returns its normalised posix path. Checked
 * here because the engine would only say so after the whole context has been uploaded, in words that
 * do not point at hangar.toml.
 */
async function locateDockerfile(dir: string, dockerfile: string): Promise<string> {
  const rel = path.posix.normalize(dockerfile);
  if (path.posix.isAbsolute(rel) || rel === '..' || rel.startsWith('../')) {
    throw dockerfileNotFound(dockerfile, `${JSON.stringify(dockerfile)} is outside the build context`);
  }
  // stat follows symlinks; the unpacker already made sure every symlink stays inside `dir`.
  const stat = await fs.promises.stat(path.join(dir, rel)).catch(() => undefined);
  if (!stat?.isFile()) throw dockerfileNotFound(dockerfile, `no Dockerfile at ${JSON.stringify(rel)} in the build context`);
  return rel;
}

function dockerfileNotFound(dockerfile: string, message: string): UserError {
  return new UserError({
    code: 'dockerfile_not_found',
    message,
    hint: 'add the Dockerfile to the app directory, or set [build] dockerfile in hangar.toml to its path relative to the app directory',
    details: [{ path: 'build.dockerfile', message, value: dockerfile }],
  });
}

type StopReason = 'timeout' | 'cancelled';

/**
 * Runs `POST /build` to its end and resolves only if the engine reported no error. A timeout or a
 * cancel aborts the request; closing the connection is what makes the engine stop the build.
 */
async function runEngineBuild(engine: EngineClient, dir: string, dockerfile: string, opts: DockerBuildOptions): Promise<void> {
  const output = new BuildOutput(opts.onOutput);
  const abort = new AbortController();
  let reason: StopReason | undefined;
  const stop = (r: StopReason) => {
    reason ??= r;
    abort.abort();
  };
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  const onCancel = () => stop('cancelled');
  opts.signal?.addEventListener('abort', onCancel, { once: true });
  // Byte mode: object mode would queue sixteen records (sixteen whole files) ahead of the socket.
  const context = Readable.from(contextArchive(dir), { objectMode: false });
  try {
    const res = await postBuild(engine, buildQuery(opts, dockerfile), context, abort.signal);
    await readProgress(res, output);
    // An aborted response may just end instead of failing: the build did not finish either way.
    if (reason) throw new Error(`build stopped: ${reason}`);
  } catch (err) {
    if (reason) throw stopError(reason, opts.timeoutMs, output.tail);
    throw err;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onCancel);
    context.destroy();
  }
}

/** The classic builder's parameters; `version=1` because BuildKit needs a session API this client lacks. */
function buildQuery(opts: DockerBuildOptions, dockerfile: string): Record<string, string> {
  const query: Record<string, string> = {
    t: opts.tag,
    dockerfile,
    networkmode: 'none',
    rm: '1',
    forcerm: '1',
    pull: '0',
    version: '1',
  };
  if (opts.target) query.target = opts.target;
  if (opts.args && Object.keys(opts.args).length > 0) query.buildargs = JSON.stringify(opts.args);
  return query;
}

/**
 * Sends the build context as a chunked request body, read from disk as the engine takes it. A non-2xx
 * answer (a Dockerfile parse error, an unknown target) is the build failing before its first step.
 */
async function postBuild(engine: EngineClient, query: Record<string, string>, body: Readable, signal: AbortSignal): Promise<IncomingMessage> {
  try {
    return await engine.stream('POST', '/build', { query, body, contentType: 'application/x-tar', signal });
  } catch (err) {
    if (err instanceof EngineError) throw buildFailed(err.engineMessage, []);
    throw err;
  }
}

/**
 * The engine's answer is one JSON message per line: `stream` (text), `status`, `aux` (the image id)
 * and, when a step fails, `error` / `errorDetail`. Lines are handled as they arrive.
 * @throws UserError `build_failed` when the engine reports an error.
 */
async function readProgress(res: IncomingMessage, output: BuildOutput): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of res) {
    const lines = (pending + decoder.write(chunk as Buffer)).split('\n');
    pending = lines.pop()!;
    for (const line of lines) handleMessage(line, output);
  }
  handleMessage(pending + decoder.end(), output);
  output.flush();
}

interface ProgressMessage {
  stream?: unknown;
  status?: unknown;
  id?: unknown;
  error?: unknown;
  errorDetail?: { message?: unknown };
}

function handleMessage(raw: string, output: BuildOutput): void {
  const text = raw.trim();
  if (text === '') return;
  let msg: ProgressMessage;
  try {
    msg = JSON.parse(text) as ProgressMessage;
  } catch {
    // Not what the engine sends; still worth showing rather than dropping.
    output.line('stdout', text);
    return;
  }
  if (msg.error !== undefined || msg.errorDetail !== undefined) {
    output.flush();
    const detail = msg.errorDetail?.message;
    throw buildFailed(typeof detail === 'string' ? detail : String(msg.error), output.tail);
  }
  if (typeof msg.stream === 'string') output.text(msg.stream);
  if (typeof msg.status === 'string') output.line('stdout', typeof msg.id === 'string' ? `${msg.id}: ${msg.status}` : msg.status);
}

/**
 * Turns the engine's `stream` pieces into lines. A piece need not end a line (a RUN step's `printf`
 * without a newline), so each stream keeps its unfinished line until the rest arrives. Keeps the
 * last `BUILD_OUTPUT_TAIL` lines for the error that may follow.
 */
class BuildOutput {
  readonly tail: string[] = [];
  private readonly partial: Record<OutputStream, string> = { stdout: '', stderr: '' };

  constructor(private readonly onOutput: DockerBuildOptions['onOutput']) {}

  /** One `stream` message: RUN-step stderr comes wrapped in the engine's colour codes. */
  text(piece: string): void {
    const stream: OutputStream = piece.startsWith(STDERR_START) ? 'stderr' : 'stdout';
    const body = stream === 'stderr' ? stripSuffix(piece.slice(STDERR_START.length), STDERR_END) : piece;
    // The builder's own messages start a line even after a RUN step that did not end its last one.
    if (BUILDER_MESSAGE.test(body)) this.flush();
    const lines = (this.partial[stream] + body).split('\n');
    let rest = lines.pop()!;
    for (const line of lines) this.line(stream, line);
    while (rest.length > MAX_LINE_CHARS) {
      this.line(stream, rest.slice(0, MAX_LINE_CHARS));
      rest = rest.slice(MAX_LINE_CHARS);
    }
    this.partial[stream] = rest;
  }

  /** A complete line; blank ones are dropped. */
  line(stream: OutputStream, line: string): void {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.trim() === '') return;
    this.tail.push(text);
    if (this.tail.length > BUILD_OUTPUT_TAIL) this.tail.shift();
    this.onOutput(stream, text);
  }

  /** Emits unfinished lines: the build ended, nothing will complete them. */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream];
      this.partial[stream] = '';
      this.line(stream, rest);
    }
  }
}

function stripSuffix(s: string, suffix: string): string {
  return s.endsWith(suffix) ? s.slice(0, -suffix.length) : s;
}

/**
 * The build context as a tar stream, one entry at a time: only the file being sent is in memory (twice,
 * briefly, while `tar()` copies it into its record), never the whole context. Each record is `tar()` of one entry without its end-of-archive blocks, so the
 * format rules stay in one place; the end marker follows the last entry.
 */
async function* contextArchive(dir: string): AsyncGenerator<Buffer> {
  for await (const entry of contextEntries(dir)) yield tarRecord(entry);
  yield Buffer.alloc(END_OF_ARCHIVE);
}

function tarRecord(entry: TarEntry): Buffer {
  let archive: Buffer;
  try {
    archive = tar([entry]);
  } catch (err) {
    throw new UserError({
      code: 'docker_context_unsupported',
      message: `${JSON.stringify(entry.name)} cannot be sent to the Docker Engine: ${(err as Error).message}`,
      hint: 'shorten the path, or leave it out of the build context with .dockerignore',
    });
  }
  return archive.subarray(0, archive.length - END_OF_ARCHIVE);
}

/**
 * Walks the unpacked snapshot depth-first in name order (a directory before its contents), with each
 * file's and directory's permission bits. Symlinks are sent as links, never followed. Nothing else can
 * be in the tree: the unpacker creates only these three kinds.
 */
async function* contextEntries(root: string, rel = ''): AsyncGenerator<TarEntry> {
  const names = (await fs.promises.readdir(path.join(root, rel))).sort();
  for (const name of names) {
    const relPath = rel === '' ? name : `${rel}/${name}`;
    const abs = path.join(root, relPath);
    const stat = await fs.promises.lstat(abs);
    const mode = stat.mode & 0o7777;
    if (stat.isDirectory()) {
      yield { type: 'dir', name: relPath, mode };
      yield* contextEntries(root, relPath);
    } else if (stat.isFile()) {
      yield { type: 'file', name: relPath, mode, data: await fs.promises.readFile(abs) };
    } else if (stat.isSymbolicLink()) {
      yield { type: 'symlink', name: relPath, target: await fs.promises.readlink(abs) };
    }
  }
}

/** The id the tag points at once the build is done; a build that ended without one failed. */
async function taggedImageId(engine: EngineClient, tag: string): Promise<string> {
  try {
    const image = await engine.json<{ Id: string }>('GET', `/images/${encodeURIComponent(tag)}/json`);
    return image.Id;
  } catch (err) {
    if (isEngineStatus(err, 404)) throw buildFailed(`the engine ended the build without an image tagged ${tag}`, []);
    throw err;
  }
}

function buildFailed(engineMessageText: string, tail: string[]): UserError {
  return new UserError({
    code: 'build_failed',
    message: `docker build failed: ${engineMessageText}`,
    hint: 'fix the Dockerfile step shown above and deploy again',
    details: outputDetails(tail),
  });
}

function stopError(reason: StopReason, timeoutMs: number, tail: string[]): UserError {
  if (reason === 'cancelled') return buildCancelled();
  return new UserError({
    code: 'build_timeout',
    kind: 'timeout',
    message: `docker build did not finish within ${formatDuration(timeoutMs)} and was stopped`,
    hint: 'speed the build up, or allow it more time (the builds API takes ?timeout=, e.g. 20m)',
    details: outputDetails(tail),
  });
}

