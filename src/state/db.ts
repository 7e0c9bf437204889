import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { UserError } from '../core/errors.js';
import { migrations, type Dialect } from './migrations.js';
import { postgresProblem, redactUrl } from './pg-errors.js';
import { ResilientPool } from './pg-pool.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Where the state lives: a SQLite file on this host, or a PostgreSQL database shared by a cluster. */
export type StateLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; waitMs?: number };

export interface OpenDb {
  db: Db;
  dialect: Dialect;
  /** Closes connections (and, for PostgreSQL, the notification listener). */
  close(): Promise<void>;
}

/**
 * Opens the state database and applies pending migrations. This is the only place that knows the
 * dialect: repositories take a `Db` and run unchanged on SQLite and PostgreSQL.
 */
export async function openDb(loc: StateLocation): Promise<OpenDb> {
  if (loc.kind === 'sqlite') {
    const db = openSqlite(loc.file);
    await migrate(db, 'sqlite', loc.file);
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  return openPostgres(loc.url, loc.waitMs);
}

function openSqlite(file: string): Db {
  let raw: Sqlite.Database;
  try {
    raw = new Sqlite(file);
  } catch (err) {
    throw new UserError({
      code: 'state_unwritable',
      kind: 'unavailable',
      message: `cannot open state database ${file}: ${(err as Error).message}`,
      hint: 'check that HANGAR_HOME (or --state-dir) is writable',
      cause: err,
    });
  }
  raw.pragma('journal_mode = WAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  raw.pragma('synchronous = NORMAL');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
}

async function openPostgres(url: string, waitMs?: number): Promise<OpenDb> {
  // 64-bit integers (heartbeat counters, byte sizes, millisecond times, COUNT(*)) come back as numbers, as on SQLite.
  const types = { getTypeParser: (oid: number, format?: any) => (oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) };
  const pool = new ResilientPool({ connectionString: url, max: 10, connectionTimeoutMillis: 5000, types }, { waitMs });
  try {
    // One round trip first, so a wrong address, password or database name is one clear line at start.
    const client = await pool.connectOnce();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw postgresProblem(err, url);
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pool as unknown as pg.Pool }) });
  try {
    await migrate(db, 'postgres', redactUrl(url));
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw err;
  }
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/**
 * Applies pending migrations. On PostgreSQL, Kysely's migrator holds an advisory lock, so nodes starting
 * together migrate once. A database migrated by a newer hangar is refused before anything is written.
 */
export async function migrate(db: Db, dialect: Dialect, where: string): Promise<void> {
  const known = migrations(dialect);
  const applied = await appliedMigrations(db);
  const unknown = applied.filter((n) => !(n in known));
  if (unknown.length > 0) {
    const ours = Object.keys(known).sort().at(-1);
    throw new UserError({
      code: 'state_schema_newer',
      kind: 'precondition',
      message: `the state database ${where} has schema ${unknown.sort().at(-1)}, newer than this hangar knows (up to ${ours})`,
      hint: 'upgrade hangar on this host to the version the other nodes run',
    });
  }
  const provider: MigrationProvider = { getMigrations: async () => known };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`state migration ${failed?.migrationName ?? '?'} failed: ${(error as Error).message ?? error}`, { cause: error });
  }
}

/** Names of the migrations recorded in the database (none on a fresh one). */
async function appliedMigrations(db: Db): Promise<string[]> {
  // Kysely's own tables are hidden from introspection unless asked for; without them every database looks fresh.
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === 'kysely_migration')) return [];
  const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  return rows.rows.map((r) => r.name);
}
