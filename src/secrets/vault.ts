import type { Logger } from 'pino';
import { NotFoundError, UserError } from '../core/errors.js';
import type { App } from '../core/types.js';
import type { SecretsProvider } from '../machines/lifecycle.js';
import { KeyedMutex } from '../core/keyed-mutex.js';
import type { State, StoredSecret } from '../state/index.js';
import { appDigest, SealError, sealedBytes, type SecretsKey } from './crypto.js';
import { createKeyFile, readKeyFile } from './key-file.js';
import { checkChange, type SecretChange } from './rules.js';

/** The key file's name in HANGAR_HOME. */
export const KEY_FILE = 'secrets.key';

export interface VaultDeps {
  state: State;
  /** Full path of the key file. */
  keyFile: string;
  log: Logger;
  /**
   * In a cluster: the id of the key every node must use, recorded by the first node that had one.
   * `record` stores `id` unless one is recorded and returns the recorded one.
   */
  clusterKey?: { recorded(): Promise<string | undefined>; record(id: string): Promise<string> };
}

/** A secret as listed: everything but the value. */
export type SecretInfo = Pick<StoredSecret, 'name' | 'digest' | 'createdAt' | 'updatedAt'>;

export interface SecretsListing {
  /** The version of the app's whole set ('' when it has none); instances record it at start. */
  digest: string;
  secrets: SecretInfo[];
}

type KeyState = { kind: 'ready'; key: SecretsKey } | { kind: 'broken'; error: UserError };

/**
 * Stores each app's secrets sealed with the daemon's key and opens them for the machines that start
 * (it is the lifecycle's SecretsProvider). The key is created only when the file is missing and no
 * secret is stored: a missing, unreadable or different key with secrets stored makes every operation
 * that needs it fail with a clear error instead of re-keying, which would lose them all. Restoring the
 * file is picked up on the next such operation, without a restart.
 */
export class SecretVault implements SecretsProvider {
  private key?: KeyState;
  /** One load at a time: two of them could both find no key file and race to create it. */
  private loading?: Promise<KeyState>;
  private readonly mutex = new KeyedMutex();

  private constructor(private readonly deps: VaultDeps) {}

  static async open(deps: VaultDeps): Promise<SecretVault> {
    const v = new SecretVault(deps);
    await v.loadKey();
    return v;
  }

  async list(appName: string): Promise<SecretsListing> {
    const app = await this.app(appName);
    const rows = await this.deps.state.secrets.list(app.id);
    // Listing needs no key, but a key problem is better learned here than at the next machine start.
    if (rows.length > 0) await this.requireKey();
    return listing(rows);
  }

  /** The app's values, opened, for an instance's environment. */
  async forApp(appName: string): Promise<{ values: Record<string, string>; digest: string }> {
    const app = await this.deps.state.apps.byName(appName);
    const rows = app ? await this.deps.state.secrets.list(app.id) : [];
    if (rows.length === 0) return { values: {}, digest: '' };
    const key = await this.requireKey();
    const values = Object.fromEntries(rows.map((r) => [r.name, this.open(key, app!, r)]));
    return { values, digest: appDigest(rows) };
  }

  /**
   * Stores a change whole or not at all and returns which names really changed (setting a value a
   * secret already has changes nothing). Unsetting needs no key: the way out when the key is lost.
   */
  async apply(appName: string, change: SecretChange): Promise<SecretsListing & { changed: string[] }> {
    const app = await this.app(appName);
    return this.mutex.run(app.id, async () => {
      const rows = await this.deps.state.secrets.list(app.id);
      checkChange(change, new Map(rows.map((r) => [r.name, sealedBytes(r.sealed)])));
      const upsert: StoredSecret[] = [];
      const entries = Object.entries(change.set);
      if (entries.length > 0) {
        const key = await this.requireKey();
        const now = new Date().toISOString();
        for (const [name, value] of entries) {
          const digest = key.digest(value);
          const old = rows.find((r) => r.name === name);
          if (old?.digest === digest) continue;
          upsert.push({ name, sealed: key.seal(value, context(app, name)), digest, keyId: key.id, createdAt: old?.createdAt ?? now, updatedAt: now });
        }
      }
      await this.deps.state.secrets.apply(app.id, { upsert, remove: change.unset });
      const changed = [...upsert.map((s) => s.name), ...change.unset];
      return { ...listing(await this.deps.state.secrets.list(app.id)), changed };
    });
  }

  /**
   * Seals a value that is not an app secret (a TLS private key, an ACME account key) with the same key
   * and cipher. `context` names what it is (e.g. `tls-key:APP_ID:HOSTNAME`): the value opens only under
   * the same context, so a sealed value moved to another row fails to open. Contexts live in their own
   * namespace, apart from the secrets'. Throws the key's UserError when the key cannot be read.
   */
  async seal(value: string, context: string): Promise<{ sealed: string; keyId: string }> {
    const key = await this.requireKey();
    return { sealed: key.seal(value, valueContext(context)), keyId: key.id };
  }

  /** Opens what `seal` sealed; a UserError (`sealed_value_unreadable`) when it does not open with this key. */
  async unseal(sealed: string, context: string): Promise<string> {
    const key = await this.requireKey();
    try {
      return key.open(sealed, valueContext(context));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      throw new UserError({
        code: 'sealed_value_unreadable',
        kind: 'unavailable',
        message: `the sealed value ${context} cannot be decrypted: ${err.message}`,
        hint: `restore the secrets key file that sealed it (${this.deps.keyFile}); on a cluster, every node needs the same one`,
        cause: err,
      });
    }
  }

  private open(key: SecretsKey, app: App, row: StoredSecret): string {
    try {
      return key.open(row.sealed, context(app, row.name));
    } catch (err) {
      if (!(err instanceof SealError)) throw err;
      this.deps.log.error({ app: app.name, secret: row.name, reason: err.message }, 'a secret could not be decrypted');
      throw new UserError({
        code: 'secret_decrypt_failed',
        kind: 'unavailable',
        message: `secret ${row.name} of app ${app.name} cannot be decrypted: ${err.message}`,
        hint: `restore the secrets key file that sealed it (${this.deps.keyFile}), or set the secret again: hangar secrets set ${row.name}=… -a ${app.name}`,
      cause: err,
      });
    }
  }

  private async requireKey(): Promise<SecretsKey> {
    const st = this.key?.kind === 'ready' ? this.key : await this.loadKey();
    if (st.kind === 'broken') throw st.error;
    return st.key;
  }

  private loadKey(): Promise<KeyState> {
    this.loading ??= this.readKey().finally(() => (this.loading = undefined));
    return this.loading;
  }

  private async readKey(): Promise<KeyState> {
    const { keyFile: file, log } = this.deps;
    // Keys sealed for certificates count as much as secrets: a new key would lose them just the same.
    const ids = [...new Set([...(await this.deps.state.secrets.keyIds()), ...(await this.deps.state.certs.keyIds())])];
    const read = readKeyFile(file);
    const was = this.key?.kind;
    const shared = await this.deps.clusterKey?.recorded();
    if (read.kind === 'missing' && shared) {
      // The cluster has a key: a new one here would seal secrets the other nodes cannot open.
      this.key = { kind: 'broken', error: clusterKeyError(file, 'is missing') };
    } else if (read.kind === 'ok' && shared && shared !== read.key.id) {
      this.key = { kind: 'broken', error: clusterKeyError(file, "is not the key the cluster's other nodes use") };
    } else if (read.kind === 'missing' && ids.length === 0) {
      try {
        this.key = { kind: 'ready', key: createKeyFile(file) };
        log.info({ file }, 'created the secrets key');
      } catch (err) {
        this.key = { kind: 'broken', error: keyError('secrets_key_invalid', file, `cannot be created (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`) };
      }
    } else if (read.kind === 'missing') {
      this.key = { kind: 'broken', error: keyError('secrets_key_missing', file, 'is missing') };
    } else if (read.kind === 'invalid') {
      this.key = { kind: 'broken', error: keyError('secrets_key_invalid', file, read.reason) };
    } else if (ids.some((id) => id !== read.key.id)) {
      this.key = { kind: 'broken', error: keyError('secrets_key_invalid', file, 'is not the key the stored secrets were encrypted with') };
    } else {
      this.key = { kind: 'ready', key: read.key };
      if (read.looseMode) log.warn({ file, mode: (0o600 | read.looseMode).toString(8) }, 'the secrets key file is readable by other users; chmod 600 it');
      if (was === 'broken' && ids.length > 0) log.info({ file }, 'secrets key loaded');
    }
    if (this.key.kind === 'ready' && this.deps.clusterKey && !shared) {
      // First node with a key: it becomes the cluster's (two nodes racing: the first recorded wins).
      const winner = await this.deps.clusterKey.record(this.key.key.id);
      if (winner !== this.key.key.id) this.key = { kind: 'broken', error: clusterKeyError(file, "is not the key the cluster's other nodes use") };
    }
    if (this.key.kind === 'broken') log.error({ code: this.key.error.code, file }, this.key.error.message);
    return this.key;
  }

  private async app(name: string): Promise<App> {
    const app = await this.deps.state.apps.byName(name);
    if (!app) throw new NotFoundError('app', name, `create it with: hangar apps create ${name}`);
    return app;
  }
}

function listing(rows: StoredSecret[]): SecretsListing {
  return { digest: appDigest(rows), secrets: rows.map(({ name, digest, createdAt, updatedAt }) => ({ name, digest, createdAt, updatedAt })) };
}

/** What a sealed value is bound to: its app (by id, so a re-created app cannot read it) and its name. */
function context(app: App, name: string): string {
  return `${app.id}:${name}`;
}

/** Values other than secrets: a context a secret's (`APP_ID:NAME`) can never be. */
function valueContext(context: string): string {
  return `value/${context}`;
}

function clusterKeyError(file: string, what: string): UserError {
  return new UserError({
    code: 'secrets_key_mismatch',
    kind: 'unavailable',
    message: `the secrets key file ${file} ${what}, so this node cannot open the cluster's secrets`,
    hint: `copy HANGAR_HOME/secrets.key from another node of the cluster to ${file} (mode 0600); no restart needed`,
  });
}

function keyError(code: 'secrets_key_missing' | 'secrets_key_invalid', file: string, what: string): UserError {
  return new UserError({
    code,
    kind: 'unavailable',
    message: `the secrets key file ${file} ${what}, so stored secrets cannot be decrypted`,
    hint:
      code === 'secrets_key_missing'
        ? `restore ${file} from your backup; hangar never creates a new key while secrets are stored (no restart needed)`
        : `restore the original ${file} from your backup (no restart needed); if no secret was ever stored with it, move it away and hangar creates a new one`,
  });
}
