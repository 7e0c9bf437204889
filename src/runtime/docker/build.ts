import type { EngineClient } from './engine.js';
import { tar, type TarEntry } from './tar.js';

export interface BuildOptions {
  /** The tag the image gets, e.g. `hangar.local/app:v1`. */
  tag: string;
  /** The build context; must contain a `Dockerfile`. */
  context: TarEntry[];
}

/**
 * Builds an image through `POST /build` (the classic builder) and returns its id. RUN steps get no
 * network at all: a build must never reach past this host.
 */
export async function buildImage(engine: EngineClient, opts: BuildOptions): Promise<{ ref: string; digest: string }> {
  const res = await engine.stream('POST', '/build', {
    query: { t: opts.tag, networkmode: 'none', rm: 1, forcerm: 1 },
    body: tar(opts.context),
    contentType: 'application/x-tar',
  });
  let text = '';
  for await (const c of res) text += (c as Buffer).toString('utf8');
  // The answer is a stream of JSON messages; a failed step is reported as one with `error`.
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    let msg: { error?: string; errorDetail?: { message?: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      continue;
    }
    if (msg.error) throw new Error(`docker build of ${opts.tag} failed: ${msg.errorDetail?.message ?? msg.error}`);
  }
  const image = await engine.json<{ Id: string }>('GET', `/images/${encodeURIComponent(opts.tag)}/json`);
  return { ref: opts.tag, digest: image.Id };
}
