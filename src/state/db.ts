import Sqlite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type MigrationProvider } from 'kysely';
import { UserError } from '../core/errors.js';
import { MIGRATIONS } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Opens the SQLite state file (WAL, foreign keys on, a busy timeout) and applies pending migrations.
 * This is the only place that knows the dialect: repositories take a `Db` and work on PostgreSQL too.
 */
export async function openSqlite(file: string): Promise<Db> {
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
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: raw }) });
  await migrate(db);
  return db;
}

export async function migrate(db: Db): Promise<void> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`state migration ${failed?.migrationName ?? '?'} failed: ${(error as Error).message ?? error}`);
  }
}
