import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '../core/errors.js';
import type { State } from '../state/index.js';
import { loadOrCreateToken, writeToken } from '../daemon/home.js';

/**
 * The secret nodes prove themselves to each other with (internal API calls, relayed proxy requests).
 * Given by file (`--cluster-secret-file`, the same file on every host), it never touches the database;
 * otherwise the first node stores a random one there and the others read it.
 */
export async function clusterSecret(state: State, file?: string): Promise<string> {
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch (err) {
      throw new UserError({ code: 'cluster_secret_unreadable', kind: 'unavailable', message: `cannot read --cluster-secret-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint: 'give a readable file holding the cluster secret (the same on every host)', cause: err });
    }
    if (text.length < 32) throw new UserError({ code: 'cluster_secret_short', message: `the cluster secret in ${file} has ${text.length} characters; at least 32 are needed`, hint: 'make one with: openssl rand -hex 32 > FILE' });
    return text;
  }
  return state.hosts.settingOr('cluster_secret', randomBytes(32).toString('base64url'));
}

/**
 * The API token. On one host it is HANGAR_HOME/token; in a cluster every node answers the same token,
 * so the first node's is stored in the database and each node writes it to its own HANGAR_HOME/token.
 */
export async function sharedToken(state: State, home: string): Promise<string> {
  const local = loadOrCreateToken(home);
  if (state.dialect === 'sqlite') return local;
  const shared = await state.hosts.settingOr('api_token', local);
  if (shared !== local) writeToken(home, shared);
  return shared;
}
