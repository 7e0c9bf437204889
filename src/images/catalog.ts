import type { Readable } from 'node:stream';
import { NotFoundError, UserError } from '../core/errors.js';
import { DEFAULT_REGISTRY, formatImageRef, type Image, type ImageRef } from '../core/types.js';
import type { ImageResolver, ResolvedImage } from '../machines/images.js';
import type { State } from '../state/index.js';
import type { ImageStore, StoredImage } from './store.js';

interface ParsedRef {
  registry?: string;
  repository?: string;
  tag?: string;
  digest?: string;
}

/**
 * Parses `registry/repo:tag`, `repo:tag`, `repo@sha256:…`, `sha256:…` or a bare tag. The registry is
 * only recognised when the first path part looks like a host (has a dot or a port), as Docker does.
 */
export function parseImageRef(ref: string): ParsedRef {
  const out: ParsedRef = {};
  let rest = ref.trim();
  if (/^sha256:[0-9a-f]{64}$/.test(rest)) return { digest: rest };
  const at = rest.indexOf('@');
  if (at >= 0) {
    out.digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost') {
      out.registry = first;
      rest = rest.slice(slash + 1);
    }
  }
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    out.repository = rest.slice(0, colon);
    out.tag = rest.slice(colon + 1);
  } else if (out.registry || out.digest || rest.includes('/')) {
    out.repository = rest;
  } else {
    out.tag = rest;
  }
  return out;
}

/** Image names in the database plus their content in the store: uploads, lookups, and checks before a start. */
export class ImageCatalog implements ImageResolver {
  constructor(
    private readonly state: State,
    private readonly store: ImageStore,
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
    const image: Image = { appName, ref, fullRef: formatImageRef(ref), sizeBytes: stored.sizeBytes, fileCount: stored.fileCount, createdAt: new Date().toISOString() };
    await this.state.images.put(app.id, image);
    return image;
  }

  async list(appName: string): Promise<Image[]> {
    const app = await this.state.apps.byName(appName);
    if (!app) throw new NotFoundError('app', appName);
    return this.state.images.list(app.id);
  }

  async get(appName: string, ref: string): Promise<Image> {
    const p = parseImageRef(ref);
    if (p.registry && p.registry !== DEFAULT_REGISTRY) throw notHere(ref);
    const owner = p.repository ?? appName;
    const app = await this.state.apps.byName(owner);
    const found = app && (p.tag ? await this.state.images.get(app.id, p.tag) : p.digest ? await this.state.images.byDigest(app.id, p.digest) : undefined);
    if (!found || (p.digest && found.ref.digest !== p.digest)) throw notHere(ref);
    return found;
  }

  async resolve(appName: string, ref: string): Promise<ResolvedImage> {
    const img = await this.get(appName, ref);
    return { ref: img.ref, fullRef: img.fullRef, rootfs: this.store.rootfsPath(img.ref.digest) };
  }

  async verify(ref: ImageRef): Promise<ResolvedImage> {
    await this.store.verify(ref.digest);
    return { ref, fullRef: formatImageRef(ref), rootfs: this.store.rootfsPath(ref.digest) };
  }
}

function notHere(ref: string): UserError {
  return new UserError({
    code: 'image_not_found',
    kind: 'not_found',
    message: `image ${ref} is not in this daemon's image store`,
    hint: 'list images with: hangar images list; make one with: hangar machines run DIR (or hangar deploy --build-only)',
  });
}
