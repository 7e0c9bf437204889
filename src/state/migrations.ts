import type { Kysely, Migration } from 'kysely';

/** The SQL engines the state layer runs on. */
export type Dialect = 'sqlite' | 'postgres';

/**
 * Numbered schema migrations, applied in order at daemon start. Never edit a migration that has
 * shipped: add the next number. Written with Kysely's schema builder so the same list runs on SQLite
 * and PostgreSQL; the only dialect difference is how an auto-numbered key is declared.
 */
export function migrations(dialect: Dialect): Record<string, Migration> {
  return { ...base(dialect), ...cluster(), ...certificates(), ...dashboard() };
}

function base(dialect: Dialect): Record<string, Migration> {
  // SQLite numbers an INTEGER PRIMARY KEY AUTOINCREMENT; PostgreSQL has no such keyword and uses serial.
  const serialKey = dialect === 'sqlite' ? (['integer', (c: any) => c.primaryKey().autoIncrement()] as const) : (['serial', (c: any) => c.primaryKey()] as const);
  return {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('apps')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('machines')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('instance_id', 'text', (c) => c.notNull())
        .addColumn('image_ref', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('cordoned', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('runtime', 'text', (c) => c.notNull())
        .addColumn('port', 'integer')
        .addColumn('restart_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('started_at', 'text')
        .addColumn('last_exit_code', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('machines_app_name', ['app_id', 'name'])
        .execute();
      await db.schema.createIndex('machines_by_app').on('machines').columns(['app_id', 'state']).execute();
      await db.schema
        .createTable('machine_events')
        .addColumn('id', serialKey[0], serialKey[1])
        .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('timestamp', 'bigint', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('signal', 'text')
        .addColumn('message', 'text')
        .execute();
      await db.schema.createIndex('events_by_machine').on('machine_events').columns(['machine_id', 'id']).execute();
      await db.schema
        .createTable('leases')
        .addColumn('machine_id', 'text', (c) => c.primaryKey().references('machines.id').onDelete('cascade'))
        .addColumn('nonce', 'text', (c) => c.notNull())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('images')
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('registry', 'text', (c) => c.notNull())
        .addColumn('repository', 'text', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('file_count', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('images_pk', ['app_id', 'tag'])
        .execute();
      await db.schema.createIndex('images_by_digest').on('images').column('digest').execute();
    },
  },
  '0002_app_routing_and_checks': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('apps').addColumn('routing', 'text', (c) => c.notNull().defaultTo('{}')).execute();
      await db.schema
        .createTable('machine_checks')
        .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('output', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('machine_checks_pk', ['machine_id', 'name'])
        .execute();
    },
  },
  '0003_releases_and_deployments': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('releases')
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('image_ref', 'text', (c) => c.notNull())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .addColumn('config', 'text', (c) => c.notNull())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('stable', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('releases_pk', ['app_id', 'version'])
        .execute();
      await db.schema
        .createTable('deployments')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('release_version', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('phase', 'text', (c) => c.notNull())
        .addColumn('options', 'text', (c) => c.notNull())
        .addColumn('machines', 'text', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('deployments_by_app').on('deployments').columns(['app_id', 'status']).execute();
      await db.schema
        .createTable('deployment_events')
        .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('at', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('deployment_events_pk', ['deployment_id', 'seq'])
        .execute();
    },
  },
  '0004_deployment_strategy_state': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('deployments').addColumn('extra', 'text', (c) => c.notNull().defaultTo('{}')).execute();
    },
  },
  '0005_secrets': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('secrets')
        .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('key_id', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('secrets_pk', ['app_id', 'name'])
        .execute();
    },
  },
  '0006_image_runtime': {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('images').addColumn('runtime', 'text', (c) => c.notNull().defaultTo('process')).execute();
    },
  },
  '0007_deployment_paused': {
    async up(db: Kysely<any>) {
      // The user's pause outlives a daemon restart: it is stored the moment it is asked for.
      await db.schema.alterTable('deployments').addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
};
}

/** The cluster's tables: hosts with their heartbeats, which host runs a machine, shared settings. */
function cluster(): Record<string, Migration> {
  return {
    '0008_hosts': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('hosts')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull().unique())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('address', 'text', (c) => c.notNull())
          .addColumn('api_port', 'integer', (c) => c.notNull())
          .addColumn('proxy_port', 'integer', (c) => c.notNull())
          .addColumn('cpus', 'integer', (c) => c.notNull())
          .addColumn('memory_mb', 'integer', (c) => c.notNull())
          .addColumn('runtimes', 'text', (c) => c.notNull())
          .addColumn('draining', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('version', 'text', (c) => c.notNull())
          // A counter the node bumps on every heartbeat: others judge liveness by its moving, on their own clock.
          .addColumn('heartbeat', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
          .addColumn('started_at', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('machines').addColumn('host_id', 'text').execute();
        await db.schema.createIndex('machines_by_host').on('machines').columns(['host_id', 'state']).execute();
        await db.schema
          .createTable('cluster_settings')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        // Whether each machine's current instance takes traffic, as its own host's checks decide.
        await db.schema
          .createTable('machine_health')
          .addColumn('machine_id', 'text', (c) => c.primaryKey().references('machines.id').onDelete('cascade'))
          .addColumn('instance_id', 'text', (c) => c.notNull())
          .addColumn('routable', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        // Which node runs a deploy, and until when its claim holds without renewal.
        await db.schema.alterTable('deployments').addColumn('runner', 'text').execute();
        await db.schema.alterTable('deployments').addColumn('runner_until', 'bigint').execute();
      },
    },
  };
}

/** The certificate store: certificates (one per hostname), HTTP-01 answers being given, ACME accounts. */
function certificates(): Record<string, Migration> {
  return {
    '0009_certificates': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('certificates')
          // A hostname has one certificate, of one app: the key makes "another app has it" a database fact.
          .addColumn('hostname', 'text', (c) => c.primaryKey())
          .addColumn('app_id', 'text', (c) => c.notNull().references('apps.id').onDelete('cascade'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('cert_pem', 'text')
          .addColumn('key_sealed', 'text')
          .addColumn('key_id', 'text')
          .addColumn('issuer', 'text')
          .addColumn('serial', 'text')
          .addColumn('not_before', 'bigint')
          .addColumn('not_after', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at', 'bigint')
          // Which node orders it now, and until when its claim holds without renewal.
          .addColumn('claimed_by', 'text')
          .addColumn('claimed_until', 'bigint')
          .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('certificates_by_app').on('certificates').columns(['app_id', 'hostname']).execute();
        await db.schema.createIndex('certificates_due').on('certificates').columns(['next_attempt_at']).execute();
        await db.schema
          .createTable('acme_challenges')
          .addColumn('token', 'text', (c) => c.primaryKey())
          .addColumn('hostname', 'text', (c) => c.notNull().references('certificates.hostname').onDelete('cascade'))
          .addColumn('key_authorization', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('acme_accounts')
          .addColumn('directory_url', 'text', (c) => c.primaryKey())
          .addColumn('key_sealed', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull())
          .addColumn('url', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
      },
    },
  };
}

/** The web dashboard's sign-ins: one-time login codes and the sessions they became (only hashes stored). */
function dashboard(): Record<string, Migration> {
  return {
    '0010_dashboard_sessions': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('dashboard_codes')
          .addColumn('code_hash', 'text', (c) => c.primaryKey())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('dashboard_sessions')
          .addColumn('session_hash', 'text', (c) => c.primaryKey())
          .addColumn('csrf', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  };
}
