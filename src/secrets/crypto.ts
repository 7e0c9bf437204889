import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

/** Size of the master key in `HANGAR_HOME/secrets.key`. */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Prefix of every sealed value, so a later format can be told apart from this one. */
const FORMAT = 'v1';

/** A sealed value that does not open: wrong key, tampered bytes, or sealed for another app or name. */
export class SealError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'SealError';
  }
}

/**
 * The daemon's secrets key. Separate subkeys are derived for encryption, for value digests and for the
 * key's id, so none of them reveals another. The master bytes are not kept, and the object prints as
 * its id only: a key that ends up in a log line or an error by accident gives nothing away.
 */
export class SecretsKey {
  /** Identifies the key (not secret): stored with each value, so a replaced key file is recognised. */
  readonly id: string;
  readonly #enc: Buffer;
  readonly #mac: Buffer;

  constructor(master: Uint8Array) {
    if (master.length !== KEY_BYTES) throw new RangeError(`a secrets key is ${KEY_BYTES} bytes, got ${master.length}`);
    this.#enc = derive(master, 'hangar/secrets/v1/aes-256-gcm');
    this.#mac = derive(master, 'hangar/secrets/v1/digest');
    this.id = derive(master, 'hangar/secrets/v1/key-id').subarray(0, 8).toString('hex');
  }

  static generate(): { key: SecretsKey; bytes: Buffer } {
    const bytes = randomBytes(KEY_BYTES);
    return { key: new SecretsKey(bytes), bytes };
  }

  /**
   * AES-256-GCM with a fresh random 12-byte IV. `context` (app id + name) is authenticated but not
   * stored, so a value copied to another app or name in the database fails to open instead of leaking.
   */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#enc, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, iv.toString('base64'), ct.toString('base64'), cipher.getAuthTag().toString('base64')].join(':');
  }

  /** Throws `SealError` (never with any of the plaintext) when the value does not open. */
  open(sealed: string, context: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 4 || parts[0] !== FORMAT) throw new SealError('not a sealed value of a known format');
    const [iv, ct, tag] = parts.slice(1).map((p) => Buffer.from(p, 'base64'));
    if (iv!.length !== IV_BYTES || tag!.length !== TAG_BYTES) throw new SealError('malformed sealed value');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#enc, iv!, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag!);
      return Buffer.concat([decipher.update(ct!), decipher.final()]).toString('utf8');
    } catch {
      throw new SealError('authentication failed (wrong key, or the stored value was altered)');
    }
  }

  /**
   * A value's digest: HMAC-SHA256 under a subkey. Keyed rather than a bare sha256 so that whoever
   * reads a listing or the state file cannot confirm a guess of a short value ("true", a PIN).
   */
  digest(value: string): string {
    return createHmac('sha256', this.#mac).update(value, 'utf8').digest('hex');
  }

  toJSON(): string {
    return `[SecretsKey ${this.id}]`;
  }

  [inspect.custom](): string {
    return this.toJSON();
  }
}

/** How many plaintext bytes a sealed value holds (GCM keeps the length), without opening it. */
export function sealedBytes(sealed: string): number {
  return Buffer.from(sealed.split(':')[2] ?? '', 'base64').length;
}

/**
 * The version of an app's whole set of secrets: sha256 over the sorted names and value digests; '' for
 * no secrets. Instances record it at start, so comparing it tells which run with outdated values.
 */
export function appDigest(entries: ReadonlyArray<{ name: string; digest: string }>): string {
  if (entries.length === 0) return '';
  const h = createHash('sha256');
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(`${e.name}\0${e.digest}\n`);
  return h.digest('hex');
}

/** What listings show of a value digest. 64 bits tell values apart; the full digest stays in state. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 16);
}

function derive(master: Uint8Array, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
}
