import type { Image } from '../core/types.js';
import { formatImageRef } from '../core/types.js';
import type { Db } from './db.js';
import type { ImagesTable } from './schema.js';

function toImage(r: ImagesTable & { app_name: string }): Image {
  const ref = { registry: r.registry, repository: r.repository, tag: r.tag, digest: r.digest };
  return {
    appName: r.app_name,
    ref,
    fullRef: formatImageRef(ref),
    runtime: r.runtime,
    sizeBytes: Number(r.size_bytes),
    fileCount: r.file_count,
    createdAt: r.created_at,
  };
}

/** Image names (`<registry>/<app>:<tag>`) pointing at content digests in the image store. */
export class ImagesRepo {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db.selectFrom('images').innerJoin('apps', 'apps.id', 'images.app_id').selectAll('images').select('apps.name as app_name');
  }

  async put(appId: string, img: Image): Promise<void> {
    const row = {
      app_id: appId,
      registry: img.ref.registry,
      repository: img.ref.repository,
      tag: img.ref.tag,
      digest: img.ref.digest,
      size_bytes: img.sizeBytes,
      file_count: img.fileCount,
      created_at: img.createdAt,
      runtime: img.runtime,
    };
    await this.db
      .insertInto('images')
      .values(row)
      .onConflict((oc) => oc.columns(['app_id', 'tag']).doUpdateSet({ registry: row.registry, digest: row.digest, size_bytes: row.size_bytes, file_count: row.file_count, created_at: row.created_at, runtime: row.runtime }))
      .execute();
  }

  async get(appId: string, tag: string): Promise<Image | undefined> {
    const r = await this.base().where('images.app_id', '=', appId).where('images.tag', '=', tag).executeTakeFirst();
    return r && toImage(r);
  }

  async byDigest(appId: string, digest: string): Promise<Image | undefined> {
    const r = await this.base().where('images.app_id', '=', appId).where('images.digest', '=', digest).orderBy('images.created_at', 'desc').executeTakeFirst();
    return r && toImage(r);
  }

  async list(appId: string): Promise<Image[]> {
    const rows = await this.base().where('images.app_id', '=', appId).orderBy('images.created_at', 'desc').execute();
    return rows.map(toImage);
  }

  /** Digests still named by some app (anything else in the store can be collected). */
  async referencedDigests(): Promise<Set<string>> {
    const rows = await this.db.selectFrom('images').where('runtime', '=', 'process').select('digest').distinct().execute();
    return new Set(rows.map((r) => r.digest));
  }
}
