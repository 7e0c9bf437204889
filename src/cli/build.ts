import type { BuildEvent, ImageView } from '../api/contract.js';
import { UserError } from '../core/errors.js';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../images/stream.js';
import { ndjsonLines } from './client.js';
import { enc } from './common.js';
import type { Context } from './context.js';
import { warn } from './output.js';

export interface BuildImageOptions {
  /** The `[build] command`; without one the snapshot is stored as it is. */
  command?: string;
  tag: string;
  /** Limit for the build command on the daemon (default there: 10 minutes). */
  timeoutMs?: number;
  /** Called for every line the build prints, as the daemon streams it. */
  onOutput: (stream: 'stdout' | 'stderr', line: string) => void;
  /** Build the directory's Dockerfile through the daemon's Docker Engine instead of running `command`. */
  docker?: { dockerfile?: string; target?: string; args?: Readonly<Record<string, string>>; registry?: string };
}

/**
 * Snapshots `dir` (honouring .hangarignore / .dockerignore) and has the daemon build it: the build
 * command run in it and the result stored as `<app>:<tag>`, or, with `docker`, its Dockerfile built by
 * the engine and tagged `<registry>/<app>:<tag>`.
 * @throws UserError the daemon's error (`build_failed` with the last output lines as details,
 * `build_timeout`, `image_corrupt`, `app_not_found`, …), rebuilt with its code, hint and details.
 */
export async function buildImage(ctx: Context, app: string, dir: string, opts: BuildImageOptions): Promise<ImageView> {
  const packed = packDirectory(dir);
  for (const w of packed.warnings) warn(w);
  const query = new URLSearchParams({ tag: opts.tag });
  if (opts.docker) {
    query.set('runtime', 'docker');
    if (opts.docker.dockerfile) query.set('dockerfile', opts.docker.dockerfile);
    if (opts.docker.target) query.set('target', opts.docker.target);
    if (opts.docker.registry) query.set('registry', opts.docker.registry);
    if (opts.docker.args && Object.keys(opts.docker.args).length > 0) query.set('build_args', JSON.stringify(opts.docker.args));
  } else if (opts.command) query.set('command', opts.command);
  if (opts.timeoutMs !== undefined) query.set('timeout', `${Math.max(1, Math.round(opts.timeoutMs))}ms`);
  const res = await ctx.api.request('POST', `/v1/apps/${enc(app)}/builds?${query}`, {
    headers: { 'content-type': SNAPSHOT_CONTENT_TYPE },
    body: packed.stream as unknown as RequestInit['body'],
    duplex: 'half',
  });
  let image: ImageView | undefined;
  for await (const line of ndjsonLines(res)) {
    const event = parseLine(line);
    if (image) throw protocolError('a line after the final one');
    switch (event.type) {
      case 'output':
        opts.onOutput(event.stream, event.line);
        break;
      case 'image':
        image = event.image;
        break;
      case 'error':
        throw ctx.api.streamError(event.error);
      default:
        throw protocolError(`an unknown line ${JSON.stringify(event)}`);
    }
  }
  // The stream ends without a final line when the daemon stopped (or crashed) mid-build.
  if (!image) throw protocolError('no result: the build stream ended early');
  return image;
}

function parseLine(line: string): BuildEvent {
  try {
    return JSON.parse(line) as BuildEvent;
  } catch {
    throw protocolError(`a line that is not JSON: ${line.slice(0, 200)}`);
  }
}

function protocolError(what: string): UserError {
  return new UserError({
    code: 'build_stream_broken',
    kind: 'unavailable',
    message: `the daemon's build response had ${what}`,
    hint: 'check the daemon log ($HANGAR_HOME/daemon.log) and run the build again',
  });
}
