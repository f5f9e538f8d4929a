import { SchemaTooNewError, StoreError } from '../../errors.ts';
import type { SqliteConnection } from './sqlite-connection.ts';

/**
 * Versioned schema changes, applied in order inside one `BEGIN IMMEDIATE` transaction, so several
 * processes starting on one file at once apply each exactly once. Never edit a released
 * migration: add the next one.
 */
const MIGRATIONS: ReadonlyArray<{ version: number; up: (p: string) => string }> = [
  {
    version: 1,
    up: (p) => `
      CREATE TABLE ${p}schedules (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        trigger TEXT NOT NULL,
        args TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        misfire_grace_time INTEGER,
        coalesce TEXT NOT NULL,
        max_instances INTEGER NOT NULL,
        max_jitter INTEGER NOT NULL,
        next_fire_time INTEGER,
        last_fire_time INTEGER,
        acquired_by TEXT,
        acquired_until INTEGER,
        broken_reason TEXT,
        revision INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX ${p}schedules_due ON ${p}schedules (next_fire_time)
        WHERE paused = 0 AND broken_reason IS NULL AND next_fire_time IS NOT NULL;
      CREATE INDEX ${p}schedules_leased ON ${p}schedules (acquired_until) WHERE acquired_by IS NOT NULL;

      CREATE TABLE ${p}jobs (
        id TEXT PRIMARY KEY,
        task TEXT NOT NULL,
        args TEXT NOT NULL,
        schedule_id TEXT,
        fire_time INTEGER,
        run_at INTEGER NOT NULL,
        start_deadline INTEGER,
        attempt INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        abandon_retries INTEGER NOT NULL,
        max_instances INTEGER,
        status TEXT NOT NULL,
        acquired_by TEXT,
        acquired_until INTEGER,
        started_at INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX ${p}jobs_fire ON ${p}jobs (schedule_id, fire_time)
        WHERE schedule_id IS NOT NULL AND fire_time IS NOT NULL;
      CREATE INDEX ${p}jobs_pending ON ${p}jobs (run_at) WHERE status = 'pending';
      CREATE INDEX ${p}jobs_running ON ${p}jobs (acquired_until) WHERE status = 'running';
      CREATE INDEX ${p}jobs_schedule ON ${p}jobs (schedule_id, status) WHERE schedule_id IS NOT NULL;

      CREATE TABLE ${p}executions (
        id TEXT PRIMARY KEY,
        job_id TEXT NOT NULL,
        schedule_id TEXT,
        task TEXT NOT NULL,
        args TEXT NOT NULL,
        fire_time INTEGER,
        run_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER NOT NULL,
        duration_ms INTEGER,
        outcome TEXT NOT NULL,
        error_name TEXT,
        error_message TEXT,
        error_stack TEXT,
        result TEXT NOT NULL,
        node TEXT,
        attempt INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX ${p}executions_finished ON ${p}executions (finished_at, id);
      CREATE INDEX ${p}executions_schedule ON ${p}executions (schedule_id, finished_at, id);
      CREATE INDEX ${p}executions_task ON ${p}executions (task, finished_at, id);
      CREATE INDEX ${p}executions_job ON ${p}executions (job_id);

      CREATE TABLE ${p}nodes (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        running_jobs INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    // `retry.attempts` counts failed and timed-out runs only: `attempt` also goes up on a hand-back
    // at shutdown or a re-run after abandonment, and counting it spent retries on every deploy.
    // Jobs already retried count every earlier run as failed, as the retry limit did before.
    version: 2,
    up: (p) => `
      ALTER TABLE ${p}jobs ADD COLUMN failed_runs INTEGER NOT NULL DEFAULT 0;
      UPDATE ${p}jobs SET failed_runs = attempt - 1 WHERE attempt > 1;
    `,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;
/** The tables migration 1 creates (after the prefix). */
const FIRST_TABLES = ['schedules', 'jobs', 'executions', 'nodes'];

/** Whether anything (a table, a view, an index) already has this name; SQLite's names ignore case. */
function tableExists(db: SqliteConnection, name: string): boolean {
  return db.get(`SELECT 1 AS found FROM sqlite_master WHERE name = ? COLLATE NOCASE`, name) !== undefined;
}
const MARKER = 'kairos';

function notMadeByKairos(table: string, prefix: string): StoreError {
  return new StoreError(
    `SqliteStore: table ${table} exists but was not made by Kairos; choose another tablePrefix (now ${JSON.stringify(prefix)})`,
  );
}

/** Brings the schema up to date; returns the versions it applied. */
export function migrate(db: SqliteConnection, prefix: string): number[] {
  const meta = `${prefix}meta`;
  db.exec('BEGIN IMMEDIATE'); // if this throws, there is no transaction of ours to roll back
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS ${meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const marker = db.get<{ value: string }>(`SELECT value FROM ${meta} WHERE key = 'schema'`)?.value;
    const current = Number(db.get<{ value: string }>(`SELECT value FROM ${meta} WHERE key = 'version'`)?.value ?? 0);
    const hasRows = db.get<{ n: number }>(`SELECT count(*) AS n FROM ${meta}`)?.n ?? 0;
    if (hasRows > 0 && marker !== MARKER) {
      throw notMadeByKairos(meta, prefix);
    }
    // No schema of ours yet, but tables under our prefix: someone else's (or left from a failed
    // copy). Creating ours would fail on them with SQLite's bare "already exists".
    const taken =
      current === 0 ? FIRST_TABLES.map((name) => prefix + name).find((name) => tableExists(db, name)) : undefined;
    if (taken !== undefined) {
      throw notMadeByKairos(taken, prefix);
    }
    if (current > SCHEMA_VERSION) {
      throw new SchemaTooNewError(
        `SqliteStore: the database schema is version ${current}, newer than this Kairos knows (${SCHEMA_VERSION}); upgrade Kairos, or use the database with the version that migrated it`,
        current,
        SCHEMA_VERSION,
      );
    }
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(migration.up(prefix));
      applied.push(migration.version);
    }
    db.run(`INSERT INTO ${meta} (key, value) VALUES ('schema', ?) ON CONFLICT (key) DO NOTHING`, MARKER);
    db.run(
      `INSERT INTO ${meta} (key, value) VALUES ('version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
      String(Math.max(current, SCHEMA_VERSION)),
    );
    db.exec('COMMIT');
    return applied;
  } catch (error) {
    if (db.inTransaction()) db.exec('ROLLBACK');
    throw error;
  }
}
