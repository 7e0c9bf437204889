/**
 * Builds images in the daemon: a snapshot stream is unpacked into a scratch directory, the app's
 * `[build] command` runs there, and whatever the build left behind is stored as the image. The build is
 * one shell process group, so a timeout, a cancel or the end of the build reaches every process it
 * started, not only the shell. A failed build stores nothing, and the scratch directory never outlives
 * the call.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { setTimeout as delay } from 'node:timers/promises';
import { formatDuration } from '../core/duration.js';
import { assertNever, UserError, type ErrorDetail } from '../core/errors.js';
import { parseIgnore } from './ignore.js';
import type { ImageStore, StoredImage } from './store.js';
import { unpackStream } from './stream.js';

export type OutputStream = 'stdout' | 'stderr';

export interface BuildOptions {
  /** Run with `/bin/sh -c` in the unpacked snapshot; without one the snapshot is stored as it came. */
  command?: string;
  /** Limit for the build command (the upload is bounded by the connection, not by this). */
  timeoutMs: number;
  /** Added to the build's environment (see `buildEnv`). */
  env?: Record<string, string>;
  /** Every line the command prints, as it prints it (without the newline). */
  onOutput: (stream: OutputStream, line: string) => void;
  /** Aborting kills the build and fails it with `build_cancelled`. */
  signal?: AbortSignal;
}

/** How many trailing output lines a `build_failed` / `build_timeout` error carries in its `details`. */
export const BUILD_OUTPUT_TAIL = 100;
/** The `path` of each output line in an error's `details` (one detail per line, oldest first). */
export const BUILD_OUTPUT_PATH = 'build.output';

/** Between SIGTERM and SIGKILL: long enough for npm & co. to clean up, short enough for a stuck build. */
const KILL_GRACE_MS = 2000;
/** After the build ends, how long a process that escaped the group may hold our output pipes. */
const OUTPUT_DRAIN_MS = 1000;
/** A progress bar redrawn with `\r` never ends its line; cut it so memory and NDJSON lines stay bounded. */
export const MAX_LINE_CHARS = 16 * 1024;
/** Like machines, builds see only a few of the daemon's variables, so its secrets do not leak into them. */
const PASSED_ENV = ['PATH', 'HOME', 'LANG', 'TMPDIR'] as const;
/**
 * Docker semantics: the ignore file filtered the build context, not what the build produces, so a
 * `.dockerignore` listing `node_modules` must not drop the `node_modules` that `npm ci` just made.
 * `parseIgnore('')` still leaves out `.git`, which is never part of an image.
 */
const KEEP_BUILD_OUTPUT = parseIgnore('', '(build output)');

export class ImageBuilder {
  /** `tmpRoot`: where scratch directories go; a directory under HANGAR_HOME that is wiped at start is ideal. */
  constructor(private readonly opts: { store: ImageStore; tmpRoot: string }) {}

  /**
   * Unpacks `input` (a snapshot stream), runs `opts.command` in it and stores the result.
   * @throws UserError `image_corrupt` (bad stream), `build_failed` (non-zero exit), `build_timeout`,
   * `build_cancelled` (signal aborted); `build_failed` and `build_timeout` carry the last
   * `BUILD_OUTPUT_TAIL` output lines as details `{path: 'build.output', message: line}`.
   */
  async build(input: Readable, opts: BuildOptions): Promise<StoredImage> {
    await fs.promises.mkdir(this.opts.tmpRoot, { recursive: true });
    const dir = await fs.promises.mkdtemp(path.join(this.opts.tmpRoot, 'build-'));
    try {
      await unpackInto(input, dir, opts.signal);
      if (opts.command) await runBuildCommand(dir, opts.command, opts);
      throwIfCancelled(opts.signal);
      const { warnings, ...stored } = await this.opts.store.importDirectory(dir, KEEP_BUILD_OUTPUT);
      // Skipped paths (sockets, links out of the tree) are news about the build: show them with it.
      for (const w of warnings) safeOutput(opts, 'stderr', `warning: ${w}`);
      return stored;
    } finally {
      await removeTree(dir);
    }
  }
}

/** The environment of a build command: a few daemon variables, then the caller's, then `HANGAR_BUILD=1`. */
export function buildEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of PASSED_ENV) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return { ...env, ...extra, HANGAR_BUILD: '1' };
}

export async function unpackInto(input: Readable, dir: string, signal: AbortSignal | undefined): Promise<void> {
  throwIfCancelled(signal);
  // A cancel during the upload cuts the stream; report the cancel, not the half-read snapshot.
  const cut = () => input.destroy();
  signal?.addEventListener('abort', cut, { once: true });
  try {
    await unpackStream(input, dir);
  } catch (err) {
    throwIfCancelled(signal);
    throw err;
  } finally {
    signal?.removeEventListener('abort', cut);
  }
}

type StopReason = { kind: 'timeout' } | { kind: 'cancelled' } | { kind: 'listener'; error: unknown };

/** Runs the command to its end; resolves only if it exited 0. Every process of its group is gone after. */
async function runBuildCommand(cwd: string, command: string, opts: BuildOptions): Promise<void> {
  throwIfCancelled(opts.signal);
  const tail: string[] = [];
  // The first reason to stop wins; a listener error after a clean exit still fails the build.
  let reason: StopReason | undefined;
  let wake: (r: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (wake = resolve));
  const stop = (r: StopReason) => {
    reason ??= r;
    wake(reason);
  };
  const emit = (stream: OutputStream, line: string) => {
    tail.push(line);
    if (tail.length > BUILD_OUTPUT_TAIL) tail.shift();
    try {
      opts.onOutput(stream, line);
    } catch (error) {
      // Thrown from a pipe's data event this would crash the daemon; end the build with it instead.
      stop({ kind: 'listener', error });
    }
  };
  // detached: the shell leads a process group of its own, so one kill reaches everything it started.
  const child = spawn('/bin/sh', ['-c', command], { cwd, env: buildEnv(opts.env), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = exitOf(child);
  const output = Promise.all([pumpLines(child.stdout!, (l) => emit('stdout', l)), pumpLines(child.stderr!, (l) => emit('stderr', l))]);
  const timer = setTimeout(() => stop({ kind: 'timeout' }), opts.timeoutMs);
  const onAbort = () => stop({ kind: 'cancelled' });
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const first = await Promise.race([exited, stopped]);
    if ('kind' in first) {
      await terminate(child, exited);
      await drain(child, output);
      throw stopError(first, command, opts.timeoutMs, tail);
    }
    // Background jobs the command left running would hold the pipes and outlive the build.
    killGroup(child, 'SIGKILL');
    await drain(child, output);
    if (reason?.kind === 'listener') throw reason.error;
    if (first.code !== 0) throw buildFailed(command, first.code, tail);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** Resolves with the exit code (128 + n for signal n, as shells report it); rejects if the spawn failed. */
function exitOf(child: ChildProcess): Promise<{ code: number }> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const signum = signal ? osConstants.signals[signal] : undefined;
      resolve({ code: code ?? 128 + (signum ?? 0) });
    });
  });
}

/** SIGTERM to the group, SIGKILL once the shell is gone or the grace period is over. */
async function terminate(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  killGroup(child, 'SIGTERM');
  const grace = new AbortController();
  await Promise.race([exited.catch(() => {}), delay(KILL_GRACE_MS, undefined, { signal: grace.signal }).catch(() => {})]);
  grace.abort();
  // Also after a prompt exit of the shell: its children may ignore SIGTERM.
  killGroup(child, 'SIGKILL');
  await exited.catch(() => {});
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch (err) {
    // ESRCH: the whole group is gone already.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Waits for the last output, but not for a process that left the group (setsid) and kept our pipes. */
async function drain(child: ChildProcess, output: Promise<unknown>): Promise<void> {
  const bound = new AbortController();
  await Promise.race([output, delay(OUTPUT_DRAIN_MS, undefined, { signal: bound.signal }).catch(() => {})]);
  bound.abort();
  child.stdout?.destroy();
  child.stderr?.destroy();
}

/** Splits a pipe into lines (UTF-8 safe across chunks, `\r\n` tolerated); resolves when it closes. */
function pumpLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const flush = (text: string) => onLine(text.endsWith('\r') ? text.slice(0, -1) : text);
  stream.on('data', (chunk: Buffer) => {
    const lines = (partial + decoder.write(chunk)).split('\n');
    partial = lines.pop()!;
    for (const line of lines) flush(line);
    while (partial.length > MAX_LINE_CHARS) {
      flush(partial.slice(0, MAX_LINE_CHARS));
      partial = partial.slice(MAX_LINE_CHARS);
    }
  });
  return new Promise((resolve) => {
    stream.once('close', () => {
      const rest = partial + decoder.end();
      if (rest !== '') flush(rest);
      resolve();
    });
  });
}

function safeOutput(opts: BuildOptions, stream: OutputStream, line: string): void {
  try {
    opts.onOutput(stream, line);
  } catch {
    // The image is stored already; a listener that went away (client gone) must not fail the build now.
  }
}

export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw buildCancelled();
}

export function outputDetails(tail: string[]): ErrorDetail[] {
  return tail.map((line) => ({ path: BUILD_OUTPUT_PATH, message: line }));
}

function buildFailed(command: string, exitCode: number, tail: string[]): UserError {
  return new UserError({
    code: 'build_failed',
    message: `build command failed with exit code ${exitCode}: ${command}`,
    hint: 'the build output shows why; the command is [build] command in hangar.toml',
    details: outputDetails(tail),
  });
}

function stopError(reason: StopReason, command: string, timeoutMs: number, tail: string[]): unknown {
  switch (reason.kind) {
    case 'timeout':
      return new UserError({
        code: 'build_timeout',
        kind: 'timeout',
        message: `build command did not finish within ${formatDuration(timeoutMs)} and was killed: ${command}`,
        hint: 'speed the build up, or allow it more time (the builds API takes ?timeout=, e.g. 20m)',
        details: outputDetails(tail),
      });
    case 'cancelled':
      return buildCancelled();
    case 'listener':
      return reason.error;
    default:
      return assertNever(reason);
  }
}

export function buildCancelled(): UserError {
  return new UserError({ code: 'build_cancelled', kind: 'conflict', message: 'the build was cancelled', hint: 'start the build again' });
}

/** Deletes a scratch tree even when the build made read-only directories in it (Go's module cache does). */
export async function removeTree(dir: string): Promise<void> {
  await makeDirsWritable(dir);
  await fs.promises.rm(dir, { recursive: true, force: true });
}

async function makeDirsWritable(dir: string): Promise<void> {
  try {
    await fs.promises.chmod(dir, 0o700);
    const dirents = await fs.promises.readdir(dir, { withFileTypes: true });
    // isDirectory() is false for symlinks, so this never walks (or chmods) outside the tree.
    for (const d of dirents) if (d.isDirectory()) await makeDirsWritable(path.join(dir, d.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
