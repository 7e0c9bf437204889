/**
 * Test helpers for src/certs: self-signed certificates made by `openssl req -x509` in a temp
 * directory (removed after the test), a state with an app and a vault on a temp SQLite file, and a
 * fake Issuer whose orders succeed or fail as the test says.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { SecretVault } from '../secrets/vault.js';
import { openState, type State } from '../state/index.js';
import { OrderError, type ChallengeBoard, type IssuedCert, type Issuer } from './acme-issuer.js';

export interface TestContextLike {
  after(fn: () => unknown): void;
}

/** A temp directory, removed after the test. */
export function tempDir(t: TestContextLike, prefix = 'hangar-certs-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let serial = 0;

/**
 * A self-signed certificate and its key (ECDSA P-256, PKCS#8 PEM) valid from now for `days`:
 * `names` become its SAN DNS names (none when empty), `cn` its common name.
 */
export function selfSigned(dir: string, opts: { names: string[]; cn?: string; days?: number }): { certPem: string; keyPem: string } {
  const n = ++serial;
  const [cert, key] = [join(dir, `cert-${n}.pem`), join(dir, `key-${n}.pem`)];
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', String(opts.days ?? 90), '-subj', `/CN=${opts.cn ?? opts.names[0] ?? 'test'}`];
  if (opts.names.length > 0) args.push('-addext', `subjectAltName=${opts.names.map((x) => `DNS:${x}`).join(',')}`);
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

/** A logger whose output the test can read. */
export function captureLog(): { log: Logger; text: () => string } {
  let text = '';
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => ((text += c), cb()) }));
  return { log, text: () => text };
}

/** A temp SQLite state holding apps `web` and `shop`, and a vault whose key file sits next to it. */
export async function certState(t: TestContextLike): Promise<{ dir: string; state: State; vault: SecretVault; file: string }> {
  const dir = tempDir(t);
  const file = join(dir, 'state.db');
  const state = await openState(file);
  t.after(() => state.close());
  for (const name of ['web', 'shop']) await state.apps.insert({ id: `app_${name}`, name, createdAt: new Date().toISOString(), routing: {} });
  const vault = await SecretVault.open({ state, keyFile: join(dir, 'secrets.key'), log: captureLog().log });
  return { dir, state, vault, file };
}

/** What a FakeIssuer does with the next order: give a certificate, or fail with the message. */
export type FakeOutcome = { ok: true; days?: number } | { ok: false; message: string; permanent?: boolean };

/**
 * Issues self-signed certificates (or fails) as told, one outcome per order; `hold` keeps the next
 * order open until `release()`, to observe what happens while one is under way.
 */
export class FakeIssuer implements Issuer {
  readonly orders: string[] = [];
  private readonly outcomes: FakeOutcome[] = [];
  private gate?: { opened: Promise<void>; open: () => void };

  constructor(private readonly dir: string) {}

  next(...o: FakeOutcome[]): void {
    this.outcomes.push(...o);
  }

  hold(): void {
    let open!: () => void;
    this.gate = { opened: new Promise<void>((r) => (open = r)), open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  async issue(hostname: string, board: ChallengeBoard): Promise<IssuedCert> {
    this.orders.push(hostname);
    await board.publish(`token-${this.orders.length}`, `token-${this.orders.length}.thumbprint`);
    try {
      await this.gate?.opened;
    } finally {
      await board.withdraw(`token-${this.orders.length}`);
    }
    const o = this.outcomes.shift() ?? { ok: true };
    if (!o.ok) throw new OrderError(o.message, o.permanent ?? false);
    const { certPem, keyPem } = selfSigned(this.dir, { names: [hostname], days: o.days });
    return { chainPem: certPem, keyPem };
  }
}

/** Resolves once `probe` holds (checked every 10 ms), or fails after `ms` naming what it waited for. */
export async function until(probe: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Counts the worker's passes over a state (each pass asks for what is due once): a test waits for a
 * few more passes to show that something did not happen, instead of sleeping.
 */
export function countPasses(state: State): () => number {
  let n = 0;
  const due = state.certs.due.bind(state.certs);
  state.certs.due = (now, limit) => {
    n++;
    return due(now, limit);
  };
  return () => n;
}
