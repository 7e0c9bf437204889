import type { ImageRef, RuntimeKind } from '../core/types.js';

/** What the machine lifecycle needs from the image catalog: a reference turned into something runnable. */
export interface ResolvedImage {
  ref: ImageRef;
  fullRef: string;
  /** The runtime that runs it: process images come from the daemon's store, docker images from the engine. */
  runtime: RuntimeKind;
  /** Directory the process runtime runs the command in. */
  rootfs?: string;
}

export interface ImageResolver {
  /** Resolves `ref` (full ref, `app:tag`, a bare tag, or a digest) for `appName`; a UserError if unknown. */
  resolve(appName: string, ref: string): Promise<ResolvedImage>;
  /** Checks that the image's content is present and intact before an instance starts from it. */
  verify(image: ImageRef, runtime: RuntimeKind): Promise<ResolvedImage>;
}
