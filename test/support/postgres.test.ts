import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { postgresAvailable, postgresBinary, startPostgres, type PgServer } from './postgres.js';

const available = postgresAvailable();
const skip = available.ok ? false : available.reason;

interface PsqlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** psql over TCP with a password (never prompting), as a client of the server would connect. */
function psql(s: PgServer, db: string, sql: string, password = s.password): Promise<PsqlResult> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  const args = ['-X', '-A', '-t', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-h', s.host, '-p', String(s.port), '-U', 'hangar', '-d', db, '-c', sql];
  return new Promise((resolve) => {
    const child = spawn(postgresBinary('psql'), args, { env: { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: '5' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: stdout.trim(), stderr }));
  });
}

async function ok(s: PgServer, db: string, sql: string): Promise<string> {
  const r = await psql(s, db, sql);
  assert.equal(r.code, 0, `psql failed: ${r.stderr}`);
  return r.stdout;
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** SysV shared memory segments created by `pid`. */
function segmentsOf(pid: number): number {
  return readFileSync('/proc/sysvipc/shm', 'utf8')
    .split('\n')
    .slice(1)
    .filter((l) => Number(l.trim().split(/\s+/)[4]) === pid).length;
}

async function timed<T>(t: { diagnostic(msg: string): void }, what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const out = await fn();
  t.diagnostic(`${what}: ${Math.round(performance.now() - t0)} ms`);
  return out;
}

test('a throwaway server: password auth over TCP, data kept across stop/start and a crash, nothing left after destroy', { skip }, async (t) => {
  const s = await timed(t, 'start (initdb + postmaster)', () => startPostgres(t));
  assert.equal(s.host, '127.0.0.1');
  assert.equal(s.url('x'), `postgres://hangar:${s.password}@127.0.0.1:${s.port}/x`);
  const db = await s.createDatabase();
  assert.notEqual(db, await s.createDatabase(), 'database names are unique');
  await ok(s, db, 'CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, $$first$$)');
  assert.equal(await ok(s, db, 'SELECT body FROM notes'), 'first');

  const wrong = await psql(s, db, 'SELECT 1', 'not-the-password');
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /password authentication failed for user "hangar"/);

  await timed(t, 'stop (fast)', () => s.stop());
  assert.equal(s.pid, undefined);
  assert.match((await psql(s, db, 'SELECT 1')).stderr, /Connection refused/);
  await timed(t, 'start again', () => s.start());
  assert.equal(await ok(s, db, 'SELECT body FROM notes'), 'first');

  await ok(s, db, 'INSERT INTO notes VALUES (2, $$just before the crash$$)');
  const crashed = s.pid!;
  await s.kill();
  assert.equal(alive(crashed), false);
  assert.match((await psql(s, db, 'SELECT 1')).stderr, /Connection refused/);
  await timed(t, 'start after kill (crash recovery)', () => s.start());
  assert.notEqual(s.pid, crashed);
  assert.match(readFileSync(s.logFile, 'utf8'), /not properly shut down; automatic recovery in progress/);
  assert.equal(await ok(s, db, 'SELECT count(*) FROM notes'), '2', 'a committed row survives the crash');

  await s.dropDatabase(db);
  assert.match((await psql(s, db, 'SELECT 1')).stderr, new RegExp(`database "${db}" does not exist`));

  const last = s.pid!;
  await timed(t, 'destroy', () => s.destroy());
  assert.equal(existsSync(s.dir), false);
  assert.equal(alive(last), false);
  await s.destroy(); // idempotent, and t.after runs it once more
});

test('a killed server that is never restarted leaves no shared memory behind', { skip }, async (t) => {
  const s = await startPostgres(t, { password: 'p@ss/word' });
  assert.equal(s.url(), `postgres://hangar:p%40ss%2Fword@127.0.0.1:${s.port}/postgres`);
  assert.equal(await ok(s, 'postgres', 'SELECT 1'), '1');
  const pid = s.pid!;
  assert.equal(segmentsOf(pid), 1);
  await s.kill();
  await s.destroy();
  assert.equal(segmentsOf(pid), 0);
  assert.equal(existsSync(s.dir), false);
});

test('two servers at once do not share ports, files or data', { skip }, async (t) => {
  const [a, b] = await timed(t, 'two starts in parallel', () => Promise.all([startPostgres(t), startPostgres(t)]));
  assert.notEqual(a.port, b.port);
  assert.notEqual(a.dir, b.dir);
  assert.notEqual(a.password, b.password);
  const [dbA, dbB] = await Promise.all([a.createDatabase('shared_name'), b.createDatabase('shared_name')]);
  await ok(a, dbA, 'CREATE TABLE only_a (x int)');
  assert.match((await psql(b, dbB, 'SELECT * FROM only_a')).stderr, /relation "only_a" does not exist/);
  assert.match((await psql(b, dbB, 'SELECT 1', a.password)).stderr, /password authentication failed/);
  await a.kill();
  assert.equal(await ok(b, dbB, 'SELECT 42'), '42');
});
