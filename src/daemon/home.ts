import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../core/errors.js';
import { isSameProcessAlive, processStartTime } from '../runtime/process/proc.js';

/** Files the daemon keeps in HANGAR_HOME. The CLI reads `daemon.json` and `token` to find the daemon. */
export const HOME_FILES = {
  state: 'state.db',
  token: 'token',
  lock: 'daemon.lock',
  info: 'daemon.json',
  log: 'daemon.log',
} as const;

export interface DaemonInfo {
  pid: number;
  api: string;
  proxy: string;
  /** The proxy's HTTPS address, unless TLS is off. */
  proxy_tls?: string;
  version: string;
  started_at: string;
}

/** HANGAR_HOME: `--state-dir`, else $HANGAR_HOME, else ~/.hangar. */
export function resolveHome(explicit?: string): string {
  return resolve(explicit ?? process.env.HANGAR_HOME ?? join(homedir(), '.hangar'));
}

/** Creates the directory if needed and proves it is writable, with a clear error if not. */
export function ensureHome(home: string): void {
  try {
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const probe = join(home, `.probe-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new UserError({
      code: 'home_unwritable',
      kind: 'unavailable',
      message: `HANGAR_HOME ${home} is not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      hint: 'point HANGAR_HOME (or --state-dir) at a directory you can write',
      cause: err,
    });
  }
}

/** The API token: generated at first start, mode 0600. */
export function loadOrCreateToken(home: string): string {
  const file = join(home, HOME_FILES.token);
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 32) return t;
  }
  const token = randomBytes(32).toString('base64url');
  writeToken(home, token);
  return token;
}

/** Writes the token file (mode 0600) in one rename, so a reader never sees half of it. */
export function writeToken(home: string, token: string): void {
  const file = join(home, HOME_FILES.token);
  writeFileSync(`${file}.tmp`, token + '\n', { mode: 0o600 });
  chmodSync(`${file}.tmp`, 0o600);
  renameSync(`${file}.tmp`, file);
}

interface LockBody {
  pid: number;
  start: string;
}

/**
 * One daemon per HANGAR_HOME. The lock names its owner by pid and process start time, so a lock left by
 * a daemon that was killed -9 is recognised as stale and taken over.
 */
export function acquireHomeLock(home: string): () => void {
  const file = join(home, HOME_FILES.lock);
  const body: LockBody = { pid: process.pid, start: processStartTime(process.pid) ?? '' };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(body));
      closeSync(fd);
      return () => {
        try {
          const cur = JSON.parse(readFileSync(file, 'utf8')) as LockBody;
          if (cur.pid === process.pid) rmSync(file, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readLock(file);
      if (holder && isSameProcessAlive(holder.pid, holder.start)) {
        throw new UserError({
          code: 'daemon_running',
          kind: 'conflict',
          message: `another hangar daemon (pid ${holder.pid}) already owns ${home}`,
          hint: 'stop it first, or use another HANGAR_HOME / --state-dir',
        });
      }
      rmSync(file, { force: true });
    }
  }
  throw new UserError({ code: 'daemon_running', kind: 'conflict', message: `could not lock ${home}: another daemon is starting`, hint: 'try again' });
}

function readLock(file: string): LockBody | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockBody;
  } catch {
    return undefined;
  }
}

export function writeDaemonInfo(home: string, info: DaemonInfo): void {
  const file = join(home, HOME_FILES.info);
  writeFileSync(`${file}.tmp`, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function readDaemonInfo(home: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(home, HOME_FILES.info), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}

export function removeDaemonInfo(home: string): void {
  rmSync(join(home, HOME_FILES.info), { force: true });
}
