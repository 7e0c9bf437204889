import type { Readable } from 'node:stream';
import { NotFoundError, UserError } from '../core/errors.js';
import { DEFAULT_REGISTRY, formatImageRef, type Image, type ImageRef, type RuntimeKind } from '../core/types.js';
import type { ImageResolver, ResolvedImage } from '../machines/images.js';
import { familiarRepository, formatImageReference, isImageDigest, isImageTag, parseImageRef, tryParseImageRef, type ParsedImageRef } from '../core/image-ref.js';
import type { DockerImages } from '../runtime/docker/images.js';
import { pushImage } from '../runtime/docker/distribution.js';
import type { State } from '../state/index.js';
import type { ImageStore, StoredImage } from './store.js';

/**
 * Image names in the database plus their content: process images in the daemon's store, Docker images
 * in the engine. Uploads, lookups, and checks before a start. A reference the database does not know
 * is looked up on the Docker Engine (and pulled, if allowed): that is how `--image nginx:1.25` runs.
 */
/** Where a process image this host lacks is fetched from (another node of the cluster), by digest. */
export type ImageSource = (digest: string) => Promise<Readable>;

export class ImageCatalog implements ImageResolver {
  private source?: ImageSource;
  private dockerSource?: ImageSource;
  private readonly fetching = new Map<string, Promise<void>>();

  constructor(
    private readonly state: State,
    private readonly store: ImageStore,
    /** Absent when the daemon has no usable Docker configuration; `dockerProblem` then says why. */
    private readonly docker?: DockerImages,
    private readonly dockerProblem?: Error,
  ) {}

  async upload(appName: string, tag: string, body: Readable): Promise<Image> {
    const app = await this.state.apps.byName(appName);
    if (!app) throw new NotFoundError('app', appName, `create it first: hangar apps create ${appName}`);
    const stored = await this.store.importStream(body);
    return this.register(appName, tag, stored);
  }

  /**
   * Names stored content `<registry>/<app>:<tag>` (uploads and daemon builds both end here). The app
   * is looked up again: it may have been destroyed while the content was uploading or building.
   * @throws NotFoundError `app_not_found`
   */
  async register(appName: string, tag: string, stored: StoredImage): Promise<Image> {
    const app = await this.state.apps.byName(appName);
    if (!app) throw new NotFoundError('app', appName, `create it first: hangar apps create ${appName}`);
    const ref: ImageRef = { registry: DEFAULT_REGISTRY, repository: appName, tag, digest: stored.digest };
    const image: Image = { appName, ref, fullRef: formatImageRef(ref), runtime: 'process', sizeBytes: stored.sizeBytes, fileCount: stored.fileCount, createdAt: new Date().toISOString() };
    await this.state.images.put(app.id, image);
    return image;
  }

  /**
   * Names an image the engine built for the app (`<registry>[/<namespace>]/<app>:<tag>`), so its tag,
   * rollbacks and `hangar images` find it like any other.
   */
  async registerDocker(appName: string, fullTag: string, id: string): Promise<Image> {
    const app = await this.state.apps.byName(appName);
    if (!app) throw new NotFoundError('app', appName, `create it first: hangar apps create ${appName}`);
    const parsed = parseImageRef(fullTag);
    if (!parsed.tag || parsed.digest) throw new Error(`not a tagged image reference: ${fullTag}`);
    const found = await this.dockerImages().inspect(id);
    const ref: ImageRef = { registry: parsed.registry, repository: parsed.repository, tag: parsed.tag, digest: id };
    const image: Image = { appName, ref, fullRef: formatImageRef(ref), runtime: 'docker', sizeBytes: found?.sizeBytes ?? 0, fileCount: 0, createdAt: new Date().toISOString() };
    await this.state.images.put(app.id, image);
    return image;
  }

  async list(appName: string): Promise<Image[]> {
    const app = await this.state.apps.byName(appName);
    if (!app) throw new NotFoundError('app', appName);
    return this.state.images.list(app.id);
  }

  async get(appName: string, ref: string): Promise<Image> {
    const found = await this.findOwn(appName, ref);
    if (!found) throw notHere(ref);
    return found;
  }

  /** An image hangar made (uploaded or built) for an app, by full ref, `app:tag`, bare tag or digest. */
  private async findOwn(appName: string, ref: string): Promise<Image | undefined> {
    const q = lookupOf(ref);
    if (!q) return undefined;
    // A Docker build may be named `<registry>/<namespace>/<app>`: the app is the last path part.
    const repository = q.ref && familiarRepository(q.ref);
    const app = await this.state.apps.byName(repository ? repository.slice(repository.lastIndexOf('/') + 1) : appName);
    const found = app && (q.tag ? await this.state.images.get(app.id, q.tag) : q.digest ? await this.state.images.byDigest(app.id, q.digest) : undefined);
    if (!found || (q.digest && found.ref.digest !== q.digest)) return undefined;
    if (repository !== undefined && repository !== found.ref.repository) return undefined;
    if (q.ref?.explicitRegistry ? found.ref.registry !== q.ref.registry : found.ref.registry !== DEFAULT_REGISTRY && found.runtime === 'process') return undefined;
    return found;
  }

  async resolve(appName: string, ref: string): Promise<ResolvedImage> {
    const own = await this.findOwn(appName, ref);
    if (own?.runtime === 'process') return { ref: own.ref, fullRef: own.fullRef, runtime: 'process', rootfs: this.store.rootfsPath(own.ref.digest) };
    if (own) {
      // An engine that is away now does not make a known image unknown: the deploy waits for the engine.
      await this.dockerImages(ref)
        .ensureExact(own.ref)
        .catch((err: { code?: string }) => {
          // In a cluster the machine's host loads an image its engine lacks from another node's.
          if (err.code !== 'docker_unavailable' && !(this.dockerSource && err.code === 'image_missing')) throw err;
        });
      return { ref: own.ref, fullRef: own.fullRef, runtime: 'docker' };
    }
    const docker = tryParseImageRef(ref);
    if (!docker || namesOwnImage(appName, ref, docker)) throw notHere(ref);
    let found;
    try {
      found = await this.dockerImages(ref).ensure(docker);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'docker_unavailable' || code === 'image_not_found' || code === 'image_pull_failed' || code === 'invalid_image_ref') throw notHere(ref, err as UserError);
      throw err;
    }
    const imageRef: ImageRef = { registry: docker.registry, repository: docker.repository, tag: docker.tag ?? '', digest: found.id };
    return { ref: imageRef, fullRef: formatImageReference(docker), runtime: 'docker' };
  }

  async verify(ref: ImageRef, runtime: RuntimeKind = 'process'): Promise<ResolvedImage> {
    if (runtime === 'docker') {
      const images = this.dockerImages(formatImageRef(ref));
      try {
        await images.ensureExact(ref);
      } catch (err) {
        // Not on this host's engine (nor pullable): streamed from the engine of a node that has it.
        if ((err as UserError).code !== 'image_missing' || !this.dockerSource) throw err;
        await this.loadFromCluster(images, ref);
      }
      return { ref, fullRef: formatImageRef(ref), runtime };
    }
    await this.ensureLocal(ref.digest);
    await this.store.verify(ref.digest);
    return { ref, fullRef: formatImageRef(ref), runtime, rootfs: this.store.rootfsPath(ref.digest) };
  }

  /**
   * In a cluster: process images this host lacks are fetched from `source` when a machine needs them,
   * and Docker images this host's engine lacks are loaded from `docker` (another node's engine).
   */
  fetchFrom(source: ImageSource, docker?: ImageSource): void {
    this.source = source;
    this.dockerSource = docker;
  }

  /** Loads a Docker image from another node's engine once (concurrent needs share it), then checks its id. */
  private async loadFromCluster(images: DockerImages, ref: ImageRef): Promise<void> {
    const key = `docker:${ref.digest}`;
    let p = this.fetching.get(key);
    if (!p) {
      p = (async () => {
        await images.importTar(await this.dockerSource!(formatImageRef(ref)));
        await images.ensureExact(ref);
      })().finally(() => this.fetching.delete(key));
      this.fetching.set(key, p);
    }
    await p;
  }

  /**
   * Makes sure this host stores the image, fetching it once (concurrent needs share one fetch) and
   * checking that what arrived has the digest asked for.
   * @throws UserError `image_unavailable` (no node has it), `image_digest_mismatch`
   */
  private async ensureLocal(digest: string): Promise<void> {
    if (!this.source || (await this.store.has(digest))) return;
    let p = this.fetching.get(digest);
    if (!p) {
      p = (async () => {
        const stored = await this.store.importStream(await this.source!(digest));
        if (stored.digest !== digest) {
          throw new UserError({ code: 'image_digest_mismatch', kind: 'unavailable', message: `image ${digest} fetched from another node arrived as ${stored.digest}`, hint: 'push or upload the image again' });
        }
      })().finally(() => this.fetching.delete(digest));
      this.fetching.set(digest, p);
    }
    await p;
  }

  /**
   * Pushes an image the app built with Docker to the registry its name carries (`[build] registry`).
   * @throws UserError `push_not_supported` (a process image, or the local `hangar.local` name), `push_failed`
   */
  async push(appName: string, ref: string, opts: { auth?: string; onProgress: (line: string) => void; signal: AbortSignal }): Promise<{ ref: string; digest: string }> {
    const img = await this.get(appName, ref);
    if (img.runtime !== 'docker') {
      throw new UserError({ code: 'push_not_supported', message: `image ${img.fullRef} runs as processes and lives in this daemon's store; there is nothing to push`, hint: 'only images built from a Dockerfile are pushed to a registry' });
    }
    if (img.ref.registry === DEFAULT_REGISTRY) {
      throw new UserError({ code: 'push_not_supported', message: `image ${img.fullRef} is named for this host only (${DEFAULT_REGISTRY}), not for a registry`, hint: 'name a registry in hangar.toml: [build] registry = "ghcr.io/myorg", then deploy --build-only --push again' });
    }
    const engine = this.dockerImages(img.fullRef).engine;
    const pushed = await pushImage(engine, img.fullRef, opts);
    return { ref: img.fullRef, digest: pushed.digest };
  }

  private dockerImages(forRef?: string): DockerImages {
    if (this.docker) return this.docker;
    throw needsDocker(forRef ?? 'this image', this.dockerProblem?.message ?? 'the Docker runtime is not configured on this daemon');
  }
}

/**
 * A word without `/`, `:` or `@` names a tag of the app's own images first (`v1`, `deployment-…`);
 * only when the app has no such tag is it an image on Docker Hub (`nginx`).
 */
function isBareTag(ref: string): boolean {
  return isImageTag(ref) && !/[/:@]/.test(ref);
}

/** How one of the app's own images is named: a bare digest or tag of the app, or a full reference. */
interface OwnLookup {
  tag?: string;
  digest?: string;
  ref?: ParsedImageRef;
}

function lookupOf(ref: string): OwnLookup | undefined {
  if (isImageDigest(ref)) return { digest: ref };
  if (isBareTag(ref)) return { tag: ref };
  const parsed = tryParseImageRef(ref);
  return parsed && { tag: parsed.tag, digest: parsed.digest, ref: parsed };
}

/** `hangar.local/…`, `<app>:…` and `deployment-…` name what hangar itself built: never looked for elsewhere. */
function namesOwnImage(appName: string, ref: string, parsed: ParsedImageRef): boolean {
  if (parsed.explicitRegistry) return parsed.registry === DEFAULT_REGISTRY;
  if (isBareTag(ref)) return ref.startsWith('deployment-');
  return familiarRepository(parsed) === appName;
}

/** Docker is needed and cannot be reached: what to do about it, in one line and a hint. */
function needsDocker(ref: string, why: string): UserError {
  return new UserError({
    code: 'docker_unavailable',
    kind: 'unavailable',
    message: `image ${ref} needs the Docker runtime: ${why}`,
    hint: DOCKER_HINT,
  });
}

const DOCKER_HINT = 'start a Docker Engine ("dockerd", installed by "apt-get install docker.io") or point DOCKER_HOST at one, then deploy again; a directory without a Dockerfile runs as processes without Docker';

/** Not one of hangar's images; `docker` says why the Docker Engine could not supply it either. */
function notHere(ref: string, docker?: UserError): UserError {
  if (docker?.code === 'docker_unavailable') {
    return new UserError({ code: 'docker_unavailable', kind: 'unavailable', message: `image ${ref} is not in this daemon's image store, and running it as a Docker image needs a Docker Engine: ${docker.message}`, hint: DOCKER_HINT, cause: docker });
  }
  if (docker) {
    return new UserError({ code: docker.code, kind: docker.kind, message: `image ${ref} is not in this daemon's image store, and ${docker.message.replace(/^image \S+ was not found: /, '')}`, hint: docker.hint, cause: docker });
  }
  return new UserError({
    code: 'image_not_found',
    kind: 'not_found',
    message: `image ${ref} is not in this daemon's image store`,
    hint: 'list images with: hangar images list; make one with: hangar machines run DIR (or hangar deploy --build-only)',
  });
}
