import { ulid } from 'ulid';
import type { ImageView } from '../api/contract.js';
import { packDirectory, SNAPSHOT_CONTENT_TYPE } from '../images/stream.js';
import type { Context } from './context.js';
import { enc } from './common.js';
import { warn } from './output.js';

/** Snapshots `dir` (honouring .hangarignore / .dockerignore) and streams it to the daemon as `<app>:<tag>`. */
export async function uploadDirectory(ctx: Context, app: string, dir: string, tagPrefix = 'run'): Promise<ImageView> {
  const packed = packDirectory(dir);
  for (const w of packed.warnings) warn(w);
  const tag = `${tagPrefix}-${ulid()}`;
  return ctx.api.upload<ImageView>(`/v1/apps/${enc(app)}/images?tag=${enc(tag)}`, SNAPSHOT_CONTENT_TYPE, packed.stream);
}
