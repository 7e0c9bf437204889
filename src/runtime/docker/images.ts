import type { Readable } from 'node:stream';
import { UserError } from '../../core/errors.js';
import { formatImageReference, tryParseImageRef, type ParsedImageRef } from '../../core/image-ref.js';
import type { ImageRef } from '../../core/types.js';
import { describeEndpoint, EngineClient, isEngineStatus, type EngineError } from './engine.js';

/** What hangar keeps of an image the engine has. */
export interface EngineImage {
  /** The image id (`sha256:…` of its config): what a container is created from, so restarts run the same bits. */
  id: string;
  sizeBytes: number;
  created: string;
}

export type PullPolicy = 'missing' | 'never';

export interface DockerImagesOptions {
  /** `missing` (default): pull what the engine lacks; `never`: only images the engine already has. */
  pull?: PullPolicy;
  /** Pulls one image (with the user's registry credentials, if any); reports progress lines. */
  pullImage?: (ref: string) => Promise<void>;
}

/** Images as the engine sees them: looked up, pulled when allowed, with errors a user can act on. */
export class DockerImages {
  constructor(
    readonly engine: EngineClient,
    private readonly opts: DockerImagesOptions = {},
  ) {}

  async inspect(ref: string): Promise<EngineImage | undefined> {
    try {
      const j = await this.engine.json<{ Id: string; Size?: number; Created?: string }>('GET', `/images/${encodeURIComponent(ref)}/json`, { timeoutMs: 10_000 });
      return { id: j.Id, sizeBytes: j.Size ?? 0, created: j.Created ?? new Date().toISOString() };
    } catch (err) {
      if (isEngineStatus(err, 404)) return undefined;
      // The engine refuses the name itself (an IPv6 registry host, say): the caller's to fix, not a bug.
      if (isEngineStatus(err, 400)) throw refused(ref, (err as EngineError).engineMessage, err);
      throw err;
    }
  }

  /**
   * The image `ref` names, pulled first if the engine lacks it and the policy allows.
   * @throws UserError `image_not_found` (with what was tried), `docker_unavailable`
   */
  async ensure(ref: ParsedImageRef): Promise<EngineImage> {
    const name = formatImageReference(ref);
    const have = await this.inspect(name);
    if (have) return have;
    if ((this.opts.pull ?? 'missing') === 'never' || !this.opts.pullImage) throw missing(name, 'the Docker Engine does not have it (pulling is off: HANGAR_DOCKER_PULL=never)');
    await this.opts.pullImage(name);
    const pulled = await this.inspect(name);
    if (!pulled) throw missing(name, 'the pull finished but the engine does not list the image');
    return pulled;
  }

  /**
   * The exact image a machine was created from (by id), for a restart or a new instance: falls back to
   * the name only if it still points at that id.
   */
  async ensureExact(ref: ImageRef): Promise<EngineImage> {
    const byId = await this.inspect(ref.digest);
    if (byId) return byId;
    const named = tryParseImageRef(`${ref.registry}/${ref.repository}:${ref.tag}`);
    // Why the name does not bring the image back goes along as the cause.
    let why: unknown;
    const again = named
      ? await this.ensure(named).catch((err: unknown) => {
          why = err;
          return undefined;
        })
      : undefined;
    if (again?.id === ref.digest) return again;
    throw new UserError({
      code: 'image_missing',
      kind: 'not_found',
      message: `image ${ref.registry}/${ref.repository}:${ref.tag} (${ref.digest.slice(0, 19)}…) is no longer on the Docker Engine`,
      hint: 'it was removed from the engine (docker rmi / image prune); deploy again (hangar deploy) or roll back to a release whose image is present',
      cause: why,
    });
  }

  /**
   * The image as a `docker save` tar (with its name, when `name` is the tag the engine knows it by), for
   * another host's engine; undefined when this engine does not have it.
   */
  async exportTar(name: string): Promise<Readable | undefined> {
    if (!(await this.inspect(name))) return undefined;
    return this.engine.stream('GET', `/images/${encodeURIComponent(name)}/get`, { timeoutMs: 10 * 60_000 });
  }

  /** Loads a `docker save` tar into this engine (`docker load`). */
  async importTar(tar: Readable): Promise<void> {
    const res = await this.engine.stream('POST', '/images/load', { body: tar, contentType: 'application/x-tar', query: { quiet: 1 } });
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    // The engine answers 200 and puts a failure in the stream: `{"errorDetail":…}`.
    const failed = /"errorDetail"\s*:\s*\{[^}]*"message"\s*:\s*"([^"]*)"/.exec(text);
    if (failed) throw new UserError({ code: 'image_load_failed', kind: 'unavailable', message: `the Docker Engine could not load the image: ${failed[1]}` });
  }

  where(): string {
    return describeEndpoint(this.engine.endpoint);
  }
}

function missing(name: string, why: string): UserError {
  return new UserError({
    code: 'image_not_found',
    kind: 'not_found',
    message: `image ${name} was not found: ${why}`,
    hint: 'check the name and tag (docker image ls lists what the engine has); for a private registry, docker login to it first',
  });
}

function refused(ref: string, engineMessage: string, cause: unknown): UserError {
  return new UserError({
    code: 'invalid_image_ref',
    kind: 'invalid',
    // The engine words it "no such image: <ref>: invalid reference format"; only the reason is news.
    message: `the Docker Engine does not accept the name ${ref}: ${engineMessage.replace(/^no such image: \S+: /i, '')}`,
    hint: 'use registry/repository:tag with a lowercase repository, e.g. ghcr.io/acme/app:v1 or 127.0.0.1:5000/app:v1',
    cause,
  });
}
