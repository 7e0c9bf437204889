import { closeSync, fsyncSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { KEY_BYTES, SecretsKey } from './crypto.js';

export type KeyFileRead =
  | { kind: 'ok'; key: SecretsKey; /** Group/other permission bits, non-zero when others may read it. */ looseMode: number }
  | { kind: 'missing' }
  | { kind: 'invalid'; reason: string };

/** Reads the key file; never creates or changes it. */
export function readKeyFile(file: string): KeyFileRead {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    return { kind: 'invalid', reason: `cannot be read (${code ?? (err as Error).message})` };
  }
  if (bytes.length !== KEY_BYTES) return { kind: 'invalid', reason: `holds ${bytes.length} bytes, not the ${KEY_BYTES} of a key` };
  return { kind: 'ok', key: new SecretsKey(bytes), looseMode: statSync(file).mode & 0o077 };
}

/**
 * Creates a new random key file, mode 0600. The bytes go to a temporary file first and are then linked
 * into place, which fails if the file exists: a crash never leaves half a key, and an existing key
 * (possibly the only way to read stored secrets) is never replaced.
 */
export function createKeyFile(file: string): SecretsKey {
  const { key, bytes } = SecretsKey.generate();
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } finally {
    unlinkSync(tmp);
  }
  bytes.fill(0);
  return key;
}
