/**
 * Images for hangar's process runtime: an image is an immutable, content-addressed snapshot of an app
 * directory. The CLI scans a directory (honouring `.hangarignore` / `.dockerignore`, keeping only
 * symlinks that stay inside it) and streams it with `packDirectory`; the daemon receives the stream with
 * `ImageStore.importStream`, which validates every record, computes the manifest and its
 * `sha256:` digest, and stores the tree read-only under that digest, deduplicated. Machines then run
 * with `ImageStore.rootfsPath(digest)` as their cwd. Names and tags are not kept here but in the database.
 */
export { IGNORE_FILES, loadIgnore, parseIgnore, type IgnoreMatcher } from './ignore.js';
export { resolveSourceDir, scanDirectory, type EntryType, type ScanResult, type SnapshotEntry } from './snapshot.js';
export {
  DIGEST_PATTERN,
  canonicalJson,
  computeManifest,
  createManifest,
  digestOf,
  manifestStats,
  type Manifest,
  type ManifestEntry,
} from './manifest.js';
export {
  SNAPSHOT_CONTENT_TYPE,
  STREAM_FORMAT,
  STREAM_VERSION,
  packDirectory,
  unpackStream,
  type PackOptions,
  type PackResult,
  type UnpackResult,
} from './stream.js';
export { ImageStore, type StoredImage, type VerifyOptions } from './store.js';
export { ImageCatalog } from './catalog.js';
