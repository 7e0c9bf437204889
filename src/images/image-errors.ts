/**
 * The images module's user-facing errors, built in one place so their codes and hints stay stable.
 */
import { UserError } from '../core/errors.js';

/** A snapshot stream or a stored image whose content cannot be trusted. */
export function imageCorrupt(message: string, hint?: string): UserError {
  return new UserError({
    code: 'image_corrupt',
    kind: 'invalid',
    message,
    hint: hint ?? 'rebuild the image and upload it again',
  });
}

/** The directory to snapshot does not exist or is not a directory. */
export function sourceMissing(dir: string, what: 'missing' | 'not_dir'): UserError {
  const message =
    what === 'missing'
      ? `image source directory ${JSON.stringify(dir)} does not exist`
      : `image source ${JSON.stringify(dir)} is not a directory`;
  return new UserError({
    code: 'image_source_missing',
    kind: 'invalid',
    message,
    hint: 'pass the path of your app directory (the one holding hangar.toml)',
  });
}

/** The source directory changed while it was being streamed, so the snapshot would be inconsistent. */
export function sourceChanged(relPath: string, detail: string): UserError {
  return new UserError({
    code: 'image_source_changed',
    kind: 'conflict',
    message: `${JSON.stringify(relPath)} changed while the snapshot was being taken: ${detail}`,
    hint: 'stop whatever is writing to the app directory and deploy again',
  });
}

export function imageMissing(digest: string): UserError {
  return new UserError({
    code: 'image_missing',
    kind: 'not_found',
    message: `image ${digest} is missing from the store`,
    hint: 'rebuild or re-upload the image (hangar deploy rebuilds it)',
  });
}

export function invalidDigest(digest: string): UserError {
  return new UserError({
    code: 'invalid_image_digest',
    kind: 'invalid',
    message: `invalid image digest ${JSON.stringify(digest)}`,
    hint: 'an image digest looks like sha256:<64 lowercase hex characters>',
  });
}

export function invalidIgnorePattern(source: string, line: number, pattern: string, why: string): UserError {
  return new UserError({
    code: 'invalid_ignore_pattern',
    kind: 'invalid',
    message: `${source} line ${line}: bad pattern ${JSON.stringify(pattern)} (${why})`,
    hint: `fix the pattern or escape special characters with a backslash in ${source}`,
    details: [{ path: `${source}:${line}`, message: why, value: pattern }],
  });
}
