import type { Logger } from '../../common/logger.ts';
import { SchemaTooNewError, StoreError } from '../../errors.ts';
import { START_GIVEN_UP } from '../data-store.ts';
import type { PgPool, PgPoolClient } from './pg-types.ts';
import { isLockTimeout } from './pg-errors.ts';

interface Migration {
  version: number;
  up: (s: string) => string;
}

/**
 * Versioned schema changes. Many nodes may start at once: an advisory lock (keyed by the schema
 * name) lets one apply each while the others wait, then find it done. Never edit a released
 * migration: add the next one.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    up: (s) => `
      CREATE TABLE ${s}.schedules (
        id text PRIMARY KEY,
        task text NOT NULL,
        trigger json NOT NULL,
        args json NOT NULL,
        paused boolean NOT NULL DEFAULT false,
        misfire_grace_time bigint,
        coalesce_policy text NOT NULL,
        max_instances integer NOT NULL,
        max_jitter bigint NOT NULL,
        next_fire_time timestamptz,
        last_fire_time timestamptz,
        acquired_by text,
        acquired_until timestamptz,
        broken_reason text,
        revision integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX schedules_due ON ${s}.schedules (next_fire_time)
        WHERE NOT paused AND broken_reason IS NULL AND next_fire_time IS NOT NULL;
      CREATE INDEX schedules_leased ON ${s}.schedules (acquired_until) WHERE acquired_by IS NOT NULL;

      CREATE TABLE ${s}.jobs (
        id text PRIMARY KEY,
        task text NOT NULL,
        args json NOT NULL,
        schedule_id text,
        fire_time timestamptz,
        run_at timestamptz NOT NULL,
        start_deadline timestamptz,
        attempt integer NOT NULL,
        max_attempts integer NOT NULL,
        abandon_retries integer NOT NULL,
        max_instances integer,
        status text NOT NULL DEFAULT 'pending',
        acquired_by text,
        acquired_until timestamptz,
        started_at timestamptz,
        cancel_requested boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL
      );
      CREATE UNIQUE INDEX jobs_fire ON ${s}.jobs (schedule_id, fire_time)
        WHERE schedule_id IS NOT NULL AND fire_time IS NOT NULL;
      CREATE INDEX jobs_pending ON ${s}.jobs (run_at, id) WHERE status = 'pending';
      CREATE INDEX jobs_pending_capped ON ${s}.jobs (run_at, id) WHERE status = 'pending' AND max_instances IS NOT NULL;
      CREATE INDEX jobs_running ON ${s}.jobs (acquired_until) WHERE status = 'running';
      CREATE INDEX jobs_schedule ON ${s}.jobs (schedule_id) WHERE schedule_id IS NOT NULL;

      CREATE TABLE ${s}.executions (
        id text PRIMARY KEY,
        job_id text NOT NULL,
        schedule_id text,
        task text NOT NULL,
        args json NOT NULL,
        fire_time timestamptz,
        run_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz NOT NULL,
        duration_ms bigint,
        outcome text NOT NULL,
        error_name text,
        error_message text,
        error_stack text,
        result json NOT NULL,
        node text,
        attempt integer NOT NULL
      );
      CREATE INDEX executions_finished ON ${s}.executions (finished_at, id);
      CREATE INDEX executions_schedule ON ${s}.executions (schedule_id, finished_at, id) WHERE schedule_id IS NOT NULL;
      CREATE INDEX executions_task ON ${s}.executions (task, finished_at, id);
      CREATE INDEX executions_job ON ${s}.executions (job_id);

      CREATE TABLE ${s}.nodes (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen timestamptz NOT NULL,
        running_jobs integer NOT NULL
      );
    `,
  },
  {
    // A job is leased exactly while it runs (or is held or queued for it). Releases find the
    // attempt a node holds by `acquired_by` alone (see releaseJobs), so this invariant is what
    // keeps them off pending rows; the database now refuses any write that would break it. NOT
    // VALID: rows already there are not re-checked, so an upgrade never fails on old data.
    version: 2,
    up: (s) => `
      ALTER TABLE ${s}.jobs ADD CONSTRAINT jobs_leased_while_running
        CHECK ((status = 'running') = (acquired_by IS NOT NULL)) NOT VALID;
    `,
  },
  {
    // A claim for a node's local queue stops at the first due job with no abandonment retry left
    // (see acquireUncappedJobs); this finds it without reading every due job. Few jobs are in it.
    version: 3,
    up: (s) => `
      CREATE INDEX jobs_pending_once ON ${s}.jobs (run_at, id) WHERE status = 'pending' AND abandon_retries = 0;
    `,
  },
  {
    // The claim of jobs no cap applies to (acquireUncappedJobs) walked `jobs_pending` past every due
    // job a schedule's max instances holds back: 0.5 ms per empty claim with 500 fired jobs
    // waiting, and a backlog of such jobs made every claim slower. Its own index skips them.
    version: 4,
    up: (s) => `
      CREATE INDEX jobs_pending_uncapped ON ${s}.jobs (run_at, id) WHERE status = 'pending' AND max_instances IS NULL;
    `,
  },
  {
    // `retry.attempts` counts failed and timed-out runs only: `attempt` also goes up on a hand-back
    // at shutdown or a re-run after abandonment, and counting it spent retries on every deploy.
    // A constant default: no table rewrite.
    // Jobs already retried count every earlier run as failed, as the retry limit did before: a
    // job that failed twice out of three attempts must not get three more.
    version: 5,
    up: (s) => `
      ALTER TABLE ${s}.jobs ADD COLUMN IF NOT EXISTS failed_runs integer NOT NULL DEFAULT 0;
      UPDATE ${s}.jobs SET failed_runs = attempt - 1 WHERE attempt > 1 AND failed_runs = 0;
    `,
  },
];

export const POSTGRES_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * How long a migration's DDL waits for its table locks before it steps back, and the longest pause
 * before it tries again. A DDL statement waiting for a lock makes every later query on that table
 * wait behind it: an application transaction that added a job and stays open would otherwise stop
 * every node's claims until it ends. Stepping back after a short wait bounds that stall.
 */
export interface MigrationLockWait {
  lockTimeoutMs: number;
  maxRetryDelayMs: number;
}

const DEFAULT_LOCK_WAIT: MigrationLockWait = { lockTimeoutMs: 1000, maxRetryDelayMs: 15_000 };

/**
 * Brings the schema up to date; returns the versions applied. `schema` is already a quoted
 * identifier.
 *
 * Each migration is applied in a transaction of its own that first takes a transaction-scoped
 * advisory lock and reads the version under it, so nodes starting at once apply each migration
 * once. A node that finds the lock taken ends its transaction and asks again a little later,
 * rather than wait inside it: behind a pooler in transaction mode, each waiting node would hold one
 * of its server connections for as long as the migration takes, and the application's traffic
 * would stall behind them. Nothing outlives a transaction: behind a pooler in transaction mode (PgBouncer), where
 * each transaction may run on another server connection, a session-level lock would be taken on
 * one connection and "released" on another, and stay held on the first, pooled and ownerless,
 * stalling every later node start.
 */
export async function migratePostgres(
  pool: PgPool,
  schema: string,
  schemaName: string,
  logger: Logger,
  lockWait: MigrationLockWait = DEFAULT_LOCK_WAIT,
  stopped: () => boolean = () => false,
): Promise<number[]> {
  const client = await pool.connect();
  // A connection a migration failed on may be inside a transaction: it is not given back to the pool.
  let failed = false;
  try {
    const applied: number[] = [];
    for (let waited = 0; ;) {
      const version = await applyNextMigration(client, schema, schemaName, logger, lockWait, stopped);
      if (version === LOCK_TAKEN) {
        // A node stopped while it waits leaves the migrations to the node that holds the lock.
        if (stopped()) throw startGivenUp(STOPPED_WHILE_WAITING);
        if (waited === 0) logger.info({ schema: schemaName }, MIGRATION_LOCK_WAIT_MESSAGE);
        // Another node migrates: wait outside any transaction, so that behind a pooler in
        // transaction mode (PgBouncer) the waiting nodes do not hold its server connections.
        await new Promise((resolve) => setTimeout(resolve, lockRetryDelayMs(waited++)));
        continue;
      }
      waited = 0;
      if (version === null) return applied;
      applied.push(version);
    }
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    client.release(failed);
  }
}

/** Logged (info) when a node finds another applying migrations, and waits for it. */
export const MIGRATION_LOCK_WAIT_MESSAGE =
  "waiting for another node's migration of this schema (it holds the migration lock)";

/** Why a migration that a stop overtook while it waited for another node's gave up. */
export const STOPPED_WHILE_WAITING = "PostgresStore: stopped while starting (it waited for another node's migration)";

/** A start given up for a stop, as the scheduler tells it from other failures (`START_GIVEN_UP`). */
export function startGivenUp(why: string): StoreError {
  return new StoreError(why, undefined, START_GIVEN_UP);
}

/** Why a migration that a stop overtook while it stepped back behind a lock on a table gave up. */
const STOPPED_WHILE_STEPPING_BACK =
  'PostgresStore: stopped while starting (its migration waited for a lock on a Kairos table; rolled back)';

/** What `applyNextMigration` answers when another node holds the migration lock. */
const LOCK_TAKEN = 'lock taken';

/** How long to wait before asking for the migration lock again: 50 ms, doubling to a second. */
function lockRetryDelayMs(triesBefore: number): number {
  return Math.min(1000, 50 * 2 ** triesBefore);
}

/**
 * Under the migration lock, applies the first migration the schema lacks; returns its version,
 * null if none, `LOCK_TAKEN` if another node holds the lock (nothing done).
 */
async function applyNextMigration(
  client: PgPoolClient,
  schema: string,
  schemaName: string,
  logger: Logger,
  lockWait: MigrationLockWait,
  stopped: () => boolean,
): Promise<number | null | typeof LOCK_TAKEN> {
  // READ COMMITTED whatever the connection's default: each statement then sees what the node
  // that held the lock before committed. Under REPEATABLE READ the snapshot would be taken before
  // the lock was granted, and a waiting node would apply the same migration again.
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    // Building an index over a large table takes as long as it takes: no time limit of the pool's
    // connections applies (and the transaction idles between tries, see `applyWithStepBack`). Set
    // with LOCAL, so the connection goes back to the pool with its own settings.
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
    await client.query('SET LOCAL lock_timeout = 0');
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked',
      [migrationLockKey(schemaName)],
    );
    if (rows[0]?.locked !== true) {
      await client.query('ROLLBACK');
      return LOCK_TAKEN;
    }
    const next = await nextMigration(client, schema, schemaName);
    if (next !== undefined) await applyWithStepBack(client, schema, schemaName, next, logger, lockWait, stopped);
    await client.query('COMMIT');
    return next?.version ?? null;
  } catch (error) {
    await rollback(client, error);
    throw error;
  }
}

/**
 * Runs `migration` in a savepoint, stepping back (see `MigrationLockWait`) whenever its DDL waits
 * longer than `lockTimeoutMs` for a table lock. The advisory lock stays held meanwhile, so other
 * nodes starting wait for it, not for the tables: they would queue their own DDL behind the
 * application's transaction, and every claim behind that.
 */
async function applyWithStepBack(
  client: PgPoolClient,
  schema: string,
  schemaName: string,
  migration: Migration,
  logger: Logger,
  lockWait: MigrationLockWait,
  stopped: () => boolean,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await client.query('SAVEPOINT kairos_migration');
    try {
      await client.query(`SET LOCAL lock_timeout = ${lockWait.lockTimeoutMs}`);
      await client.query(migration.up(schema));
      await client.query(`INSERT INTO ${schema}.migrations (version) VALUES ($1)`, [migration.version]);
      await client.query('RELEASE SAVEPOINT kairos_migration');
      return;
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      // A node stopped meanwhile gives the migration up (rolled back), rather than wait on.
      if (stopped()) throw startGivenUp(STOPPED_WHILE_STEPPING_BACK);
      await client.query('ROLLBACK TO SAVEPOINT kairos_migration');
      const retryInMs = Math.min(lockWait.maxRetryDelayMs, lockWait.lockTimeoutMs * 2 ** (attempt - 1));
      logger.warn(
        { schema: schemaName, version: migration.version, attempt, retryInMs },
        'migration waits: another transaction holds a lock on a Kairos table (an application transaction that added a job and is still open?); stepping back so that claims do not queue behind it',
      );
      if (await pauseUnlessStopped(retryInMs, stopped)) throw startGivenUp(STOPPED_WHILE_STEPPING_BACK);
    }
  }
}

/** Waits `ms`, looking every second whether the node was stopped; true if it was (the wait cut short). */
async function pauseUnlessStopped(ms: number, stopped: () => boolean): Promise<boolean> {
  for (let left = ms; left > 0; left -= 1000) {
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, 1000)));
    if (stopped()) return true;
  }
  return false;
}

/** The advisory lock's key: one per schema. */
export function migrationLockKey(schemaName: string): string {
  return `kairos-migrate:${schemaName}`;
}

/** The first migration the schema lacks (creating the schema and its version table if need be). */
async function nextMigration(client: PgPoolClient, schema: string, schemaName: string): Promise<Migration | undefined> {
  // Created only when missing: PostgreSQL checks the CREATE privilege before IF NOT EXISTS, and an
  // application's role often may only use the tables an owner migrated (`kairos migrate`).
  // (A schema made ahead by a DBA, `CREATE SCHEMA kairos AUTHORIZATION app`, is the role's own.)
  // Without USAGE on the schema (to_regclass would fail then) or SELECT on its version table, the
  // role cannot even tell whether a migration is due: say what to grant, rather than suggest an
  // owner's `kairos migrate`, which would find nothing to do.
  const { rows: found } = await client.query<SchemaAccess>(
    `SELECT n.oid IS NOT NULL AS schema, has_schema_privilege(n.oid, 'USAGE') AS usable,
            CASE WHEN has_schema_privilege(n.oid, 'USAGE') THEN to_regclass($2) IS NOT NULL END AS table,
            CASE WHEN has_schema_privilege(n.oid, 'USAGE') THEN has_table_privilege(to_regclass($2), 'SELECT') END AS readable,
            quote_ident(current_user) AS role
       FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1`,
    [schemaName, `${schema}.migrations`],
  );
  const access = found[0];
  if (access !== undefined) refuseUnreadable(access, schema, schemaName);
  if (access?.schema !== true) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  if (access?.table !== true) {
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
  }
  const { rows } = await client.query<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${schema}.migrations`,
  );
  const current = rows[0]?.version ?? 0;
  if (current > POSTGRES_SCHEMA_VERSION) {
    throw new SchemaTooNewError(
      `PostgresStore: schema ${schemaName} is at version ${current}, newer than this Kairos knows (${POSTGRES_SCHEMA_VERSION}); upgrade Kairos`,
      current,
      POSTGRES_SCHEMA_VERSION,
    );
  }
  return MIGRATIONS.find((migration) => migration.version > current);
}

/** What the role may see of Kairos's schema (null: not asked, for want of USAGE or a schema). */
interface SchemaAccess {
  schema: boolean;
  usable: boolean | null;
  table: boolean | null;
  readable: boolean | null;
  /** The role, quoted as an identifier. */
  role: string;
}

/** Fails, naming the grants, when the role may not read which migrations the schema has. */
function refuseUnreadable(access: SchemaAccess, schema: string, schemaName: string): void {
  const grants = `as the schema's owner, GRANT USAGE ON SCHEMA ${schema} TO ${access.role}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${access.role}`;
  if (access.schema && access.usable === false) {
    throw new StoreError(
      `PostgresStore: the database role ${access.role} may not use schema ${schemaName} (it lacks USAGE on it): ${grants}`,
    );
  }
  if (access.table === true && access.readable === false) {
    throw new StoreError(
      `PostgresStore: the database role ${access.role} may not read which migrations schema ${schemaName} has (it lacks SELECT on ${schema}.migrations): ${grants}`,
    );
  }
}

/** Rolls back after `cause`; a connection too broken to roll back fails with `cause`, which says why. */
async function rollback(client: PgPoolClient, cause: unknown): Promise<void> {
  try {
    await client.query('ROLLBACK');
  } catch {
    throw cause;
  }
}
