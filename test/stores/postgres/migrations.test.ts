import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../../src/common/logger.ts';
import { silentLogger } from '../../../src/common/logger.ts';
import { POSTGRES_SCHEMA_VERSION, PostgresEventBroker, PostgresStore } from '../../../src/postgres.ts';
import { SchedulerStateError, SchemaTooNewError, StoreError } from '../../../src/errors.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { LocalEventBroker } from '../../../src/events/local-event-broker.ts';
import { systemClock } from '../../../src/time/clock.ts';
import {
  MIGRATION_LOCK_WAIT_MESSAGE,
  migratePostgres,
  migrationLockKey,
} from '../../../src/stores/postgres/postgres-migrations.ts';
import { until } from '../../support/child-node.ts';
import { jobFixture } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/**
 * Migrates, then goes back to version 3, so that starting a newer Kairos has a migration (an index
 * on jobs) to apply; and the application (`app`) adds a job inside its transaction and keeps the
 * transaction open, holding a lock that the migration's index waits for.
 */
async function atVersion3WithAJobInAnOpenTransaction(
  store: PostgresStore,
  pool: pg.Pool,
  schema: string,
  app: pg.PoolClient,
): Promise<void> {
  await store.migrate();
  await pool.query(`DROP INDEX "${schema}".jobs_pending_uncapped`);
  await pool.query(`DELETE FROM "${schema}".migrations WHERE version >= 4`);
  await app.query('BEGIN');
  await store.addJob(jobFixture(), app);
}

describe('PostgresStore migrations 2 to 4: a job is leased exactly while it runs; claims have the indexes they need', () => {
  it('upgrades a version-1 schema, and the database then refuses a lease on a pending job', async () => {
    const schema = freshSchema('mig');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const store = new PostgresStore({ pool, schema });
    try {
      expect(await store.migrate()).toEqual([1, 2, 3, 4, 5]);
      // Back to what a Kairos with only migration 1 left, with a job in it.
      await pool.query(`ALTER TABLE "${schema}".jobs DROP CONSTRAINT jobs_leased_while_running`);
      await pool.query(`DROP INDEX "${schema}".jobs_pending_once`);
      await pool.query(`DROP INDEX "${schema}".jobs_pending_uncapped`);
      await pool.query(`ALTER TABLE "${schema}".jobs DROP COLUMN failed_runs`);
      await pool.query(`DELETE FROM "${schema}".migrations WHERE version >= 2`);
      const job = jobFixture();
      await store.addJob(job);
      // Retried twice under the old rule, that counted every run against the retry limit.
      const retried = jobFixture({ attempt: 3, maxAttempts: 3 });
      await store.addJob(retried);
      // A row that breaks the rule, left by whatever came before: the upgrade does not re-check it.
      const stray = jobFixture();
      await store.addJob(stray);
      await pool.query(`UPDATE "${schema}".jobs SET acquired_by = 'gone' WHERE id = $1`, [stray.id]);
      expect(await store.migrate()).toEqual([2, 3, 4, 5]);
      expect((await store.getJobs({ ids: [job.id] })).items[0]?.failedRuns).toBe(0);
      expect((await store.getJobs({ ids: [retried.id] })).items[0]?.failedRuns).toBe(2);
      const { rows: indexes } = await pool.query<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexname LIKE 'jobs_pending_%' ORDER BY 1`,
        [schema],
      );
      expect(indexes.map((row) => row.indexname)).toEqual([
        'jobs_pending_capped',
        'jobs_pending_once',
        'jobs_pending_uncapped',
      ]);
      await expect(
        pool.query(`UPDATE "${schema}".jobs SET acquired_by = 'n1' WHERE id = $1`, [job.id]),
      ).rejects.toMatchObject({ code: '23514', constraint: 'jobs_leased_while_running' });
      await expect(
        pool.query(`UPDATE "${schema}".jobs SET status = 'running' WHERE id = $1`, [job.id]),
      ).rejects.toMatchObject({ code: '23514' });
      await pool.query(`UPDATE "${schema}".jobs SET status = 'running', acquired_by = 'n1' WHERE id = $1`, [job.id]);
    } finally {
      await store.stop();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations behind an open application transaction', () => {
  it('step back after a short lock wait instead of making every query on the table queue behind them', async () => {
    const schema = freshSchema('miglock');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    const store = new PostgresStore({ pool, schema });
    const app = await pool.connect();
    const reader = await pool.connect();
    const warnings: object[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (fields) => warnings.push(fields), error() {} };
    try {
      await atVersion3WithAJobInAnOpenTransaction(store, pool, schema, app);
      const migrating = migratePostgres(pool, `"${schema}"`, schema, logger, {
        lockTimeoutMs: 100,
        maxRetryDelayMs: 200,
      });
      await until(() => warnings.length >= 2, 'the migration stepped back twice', 10_000, 10);
      expect(warnings[0]).toMatchObject({ schema, version: 4, attempt: 1 });
      // Another node's claim meanwhile: without the step back it would wait behind the migration's
      // lock request for as long as the application's transaction stays open.
      await reader.query(`SET lock_timeout = 3000`);
      const { rowCount } = await reader.query(
        `UPDATE "${schema}".jobs SET acquired_until = now() WHERE id = ANY(ARRAY(
           SELECT id FROM "${schema}".jobs WHERE status = 'running' FOR UPDATE SKIP LOCKED))`,
      );
      expect(rowCount).toBe(0); // nothing runs; the point is that it was not made to wait
      await app.query('COMMIT');
      expect(await migrating).toEqual([4, 5]);
      const { rows: indexes } = await pool.query(
        `SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND indexname = 'jobs_pending_uncapped'`,
        [schema],
      );
      expect(indexes).toHaveLength(1);
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      reader.release();
      await store.stop();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations stepping back behind an open application transaction', () => {
  it('give up, rolled back, when the scheduler starting them is stopped', async () => {
    const schema = freshSchema('migstepstop');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    const store = new PostgresStore({ pool, schema });
    const app = await pool.connect();
    const warnings: object[] = [];
    const logger: Logger = { ...silentLogger, warn: (fields) => void warnings.push(fields) };
    const scheduler = new Scheduler({ store, logger });
    try {
      await atVersion3WithAJobInAnOpenTransaction(store, pool, schema, app);
      await store.stop(); // (opened by the set-up) the scheduler's start migrates
      const starting = scheduler.start();
      await until(() => warnings.length >= 1, 'the migration stepped back', 10_000, 10);
      // Before: the stop waited for the application's transaction to end.
      const waited = new Promise<string>((resolve) => setTimeout(() => resolve('still stopping'), 10_000));
      expect(await Promise.race([scheduler.stop().then(() => 'stopped'), waited])).toBe('stopped');
      await starting;
      expect(scheduler.state).toBe('stopped');
      const { rows } = await pool.query<{ version: number }>(
        `SELECT max(version) AS version FROM "${schema}".migrations`,
      );
      expect(rows[0]?.version).toBe(3); // migration 4 rolled back
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      await scheduler.stop();
      await store.stop();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations started by a scheduler with an event broker of its own', () => {
  it("warn through the scheduler's logger", async () => {
    const schema = freshSchema('miglog');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    const store = new PostgresStore({ pool, schema });
    const app = await pool.connect();
    const warnings: string[] = [];
    const scheduler = new Scheduler({
      store,
      eventBroker: new LocalEventBroker(), // so the store is never asked for its own
      logger: { ...silentLogger, warn: (_fields, message) => void warnings.push(message ?? '') },
    });
    try {
      await atVersion3WithAJobInAnOpenTransaction(store, pool, schema, app);
      const opening = scheduler.ready();
      await until(
        () => warnings.some((message) => /migration/i.test(message)),
        'the migration stepped back',
        10_000,
        10,
      );
      await app.query('COMMIT');
      await opening;
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      await scheduler.stop();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations of several nodes behind an open application transaction', () => {
  it('keep their lock while they step back, so the other nodes wait for it rather than queue on the tables', async () => {
    const schema = freshSchema('migfleet');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const store = new PostgresStore({ pool, schema });
    const app = await pool.connect();
    const nodes = Array.from({ length: 3 }, () => new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 }));
    const warnings: number[] = [];
    const loggerOf = (node: number): Logger => ({ ...silentLogger, warn: () => void warnings.push(node) });
    try {
      await atVersion3WithAJobInAnOpenTransaction(store, pool, schema, app);
      const lockWait = { lockTimeoutMs: 50, maxRetryDelayMs: 100 };
      const migrating = nodes.map((node, n) => migratePostgres(node, `"${schema}"`, schema, loggerOf(n), lockWait));
      await until(() => warnings.length >= 4, 'the migration stepped back four times', 10_000, 10);
      // One node tries, and steps back; had it let go of the lock, the next would have tried at once.
      expect(new Set(warnings).size).toBe(1);
      await app.query('COMMIT');
      // Each applied once, by whichever node held the lock at the time.
      expect((await Promise.all(migrating)).flat().sort()).toEqual([4, 5]);
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      await store.stop();
      for (const node of nodes) await node.end();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations on connections whose transactions default to REPEATABLE READ', () => {
  it('apply each migration once when two nodes start at once', async () => {
    const schema = freshSchema('migrr');
    schemas.push(schema);
    const options = '-c default_transaction_isolation=repeatable\\ read';
    const nodes = [0, 1].map(() => new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, options }));
    const otherNode = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await otherNode.connect();
    const key = migrationLockKey(schema);
    try {
      await otherNode.query('BEGIN');
      await otherNode.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
      const watched = watchedLogger();
      const migrating = nodes.map((node) => migratePostgres(node, `"${schema}"`, schema, watched.logger));
      // Both wait for the lock: a snapshot taken then would not see what the first applies.
      await watched.untilMigrationsWait(2);
      await otherNode.query('COMMIT');
      // Each migration once, by one node or the other (they may take turns).
      const applied = await Promise.all(migrating);
      expect(applied.flat().sort()).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await otherNode.end();
      for (const node of nodes) await node.end();
    }
  });
});

describe('PostgresStore migrations whose connection is lost', () => {
  it('report why the migration failed, not that the lock could not be released on the dead connection', async () => {
    const schema = freshSchema('miglost');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const migrator = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, application_name: schema });
    // What Kairos's own pools do for a checked-out client (see kairosClient): its lost connection's
    // error event must not end the test process.
    migrator.on('acquire', (client) => client.on('error', () => {}));
    const store = new PostgresStore({ pool, schema });
    const app = await pool.connect();
    try {
      await atVersion3WithAJobInAnOpenTransaction(store, pool, schema, app);
      const migrating = migratePostgres(migrator, `"${schema}"`, schema, silentLogger, {
        lockTimeoutMs: 60_000,
        maxRetryDelayMs: 60_000,
      });
      const waiting = async () => {
        const { rows } = await pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [schema],
        );
        return rows;
      };
      await until(async () => (await waiting()).length === 1, 'the migration waits for its lock', 10_000, 10);
      await pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [
        (await waiting()).map((row) => row.pid),
      ]);
      await expect(migrating).rejects.toMatchObject({ code: '57P01' }); // terminated by an administrator
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      await store.stop();
      await migrator.end();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations on a schema a newer Kairos migrated', () => {
  it('refuse with a SchemaTooNewError that names both versions, and change nothing', async () => {
    const schema = freshSchema('mignewer');
    schemas.push(schema);
    const newer = POSTGRES_SCHEMA_VERSION + 1;
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const owner = new PostgresStore({ pool, schema });
    const older = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
    try {
      await owner.migrate();
      await pool.query(`INSERT INTO "${schema}".migrations (version) VALUES ($1)`, [newer]);
      const refused = await older.migrate().catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(SchemaTooNewError);
      expect(refused).toMatchObject({
        code: 'SCHEMA_TOO_NEW',
        schemaVersion: newer,
        knownVersion: POSTGRES_SCHEMA_VERSION,
      });
      expect(String(refused)).toMatch(`schema ${schema} is at version ${newer}, newer than this Kairos knows`);
      // A stop right after the start: the opening did not wait, so its own error is told as it is.
      const scheduler = new Scheduler({ store: older, logger: silentLogger });
      const starting = scheduler.start().catch((error: unknown) => error);
      const opening = scheduler.ready().catch((error: unknown) => error);
      await scheduler.stop();
      expect(await starting).toBeInstanceOf(SchemaTooNewError); // before: it resolved, stopped
      expect(await opening).toBeInstanceOf(SchemaTooNewError); // before: "stopped while opening the store"
    } finally {
      await older.stop();
      await owner.stop();
      await pool.end();
    }
  });
});

describe('PostgresStore migrations on a pool of the application', () => {
  it('leave the settings the application gave its connections as they were', async () => {
    const schema = freshSchema('migset');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    pool.on('connect', (client) => void client.query('SET statement_timeout = 5000'));
    const store = new PostgresStore({ pool, schema });
    try {
      expect(await store.migrate()).toEqual([1, 2, 3, 4, 5]);
      const { rows } = await pool.query<{ statement_timeout: string }>('SHOW statement_timeout');
      expect(rows[0]?.statement_timeout).toBe('5s');
    } finally {
      await store.stop();
      await pool.end();
    }
  });
});

/** A session standing for another node that is applying migrations (it holds their lock). */
async function migratingNode() {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  return {
    holdMigrationLock: (schema: string) =>
      client.query('SELECT pg_advisory_lock(hashtext($1))', [migrationLockKey(schema)]),
    releaseMigrationLock: (schema: string) =>
      client.query('SELECT pg_advisory_unlock(hashtext($1))', [migrationLockKey(schema)]),
    query: <Row extends object>(text: string, values: unknown[]) => client.query<Row>(text, values),
    end: () => client.end(),
  };
}

/** A logger that keeps what it is told, and a wait until `count` migrations said they wait for another node's. */
function watchedLogger() {
  const messages: string[] = [];
  const keep = (_fields: object, message?: string) => void messages.push(message ?? '');
  return {
    logger: { ...silentLogger, info: keep, warn: keep },
    untilMigrationsWait: (count = 1) =>
      until(
        () => messages.filter((message) => message === MIGRATION_LOCK_WAIT_MESSAGE).length >= count,
        'the migration waits for the lock',
        10_000,
        10,
      ),
  };
}

describe('PostgresStore migrations waiting for another node', () => {
  it('wait for its migration however short the lock_timeout of the pool given', async () => {
    const schema = freshSchema('miglocktimeout');
    schemas.push(schema);
    const otherNode = await migratingNode();
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, options: '-c lock_timeout=200' });
    const store = new PostgresStore({ pool, schema });
    const watched = watchedLogger();
    try {
      // Another node is migrating this schema.
      await otherNode.holdMigrationLock(schema);
      const migrating = migratePostgres(pool, `"${schema}"`, schema, watched.logger);
      await watched.untilMigrationsWait();
      await new Promise((resolve) => setTimeout(resolve, 400)); // past the pool's lock_timeout
      await otherNode.releaseMigrationLock(schema);
      expect(await migrating).toEqual([1, 2, 3, 4, 5]); // before: "canceling statement due to lock timeout"
    } finally {
      await otherNode.end();
      await store.stop();
      await pool.end();
    }
  });

  it('leave a scheduler stopped while it waited able to start again, listening', async () => {
    const schema = freshSchema('migstop');
    schemas.push(schema);
    const otherNode = await migratingNode();
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 });
    const broker = store.defaultEventBroker() as PostgresEventBroker;
    const watched = watchedLogger();
    const scheduler = new Scheduler({ store, logger: watched.logger });
    try {
      await otherNode.holdMigrationLock(schema);
      const firstUse = scheduler.ready().catch((error: unknown) => error);
      await watched.untilMigrationsWait();
      const stopping = scheduler.stop();
      await otherNode.releaseMigrationLock(schema);
      await stopping;
      await firstUse;
      await scheduler.start();
      // Before: the first use finished after the stop, and the start found its broker stopped.
      await until(() => broker.connected, 'listening after the start', 10_000, 10);
    } finally {
      await otherNode.end();
      await scheduler.stop();
    }
  });

  /**
   * A store on a fresh schema whose start waits for another node's migration (a session holding
   * the migration lock), and `starting`, what that start comes to.
   */
  async function startBehindAMigration(label: string) {
    const schema = freshSchema(label);
    schemas.push(schema);
    const otherNode = await migratingNode();
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 });
    const watched = watchedLogger();
    const context = { events: new LocalEventBroker(), clock: systemClock, logger: watched.logger, wake: () => {} };
    await otherNode.holdMigrationLock(schema);
    const starting = store.start(context).catch((error: unknown) => error);
    await watched.untilMigrationsWait();
    const close = async () => {
      await otherNode.end();
      await store.stop();
    };
    return { schema, otherNode, store, context, starting, close };
  }

  it('make a store start that a stop overtook give up, instead of opening a pool nothing ends', async () => {
    const { schema, otherNode, store, context, starting, close } = await startBehindAMigration('migstop');
    try {
      const stopping = store.stop(context);
      await otherNode.releaseMigrationLock(schema);
      await stopping;
      expect(String(await starting)).toMatch(/stopped while starting/);
    } finally {
      await close();
    }
  });

  it("stop without waiting for another node's migration to end, and leave the migrations to that node", async () => {
    const { schema, otherNode, store, context, starting, close } = await startBehindAMigration('migstopwait');
    try {
      // The other node's migration goes on (the lock stays held); the stop does not wait for it.
      const stopping = store.stop(context).then(() => 'stopped');
      const waited = new Promise((resolve) => setTimeout(() => resolve('still stopping'), 10_000));
      expect(await Promise.race([stopping, waited])).toBe('stopped');
      expect(String(await starting)).toMatch(/stopped while starting/);
      // It applied nothing: not even the schema, made under the lock.
      const { rows } = await otherNode.query<{ found: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS found',
        [schema],
      );
      expect(rows[0]?.found).toBe(false);
    } finally {
      await otherNode.releaseMigrationLock(schema);
      await close();
    }
  });

  /** Whether `stopping` ends within 10 s (another node's migration meanwhile holds the lock). */
  async function endsWhileTheLockIsHeld(stopping: Promise<void>): Promise<boolean> {
    const waited = new Promise<string>((resolve) => setTimeout(() => resolve('still stopping'), 10_000));
    return (await Promise.race([stopping.then(() => 'stopped'), waited])) === 'stopped';
  }

  /** A scheduler on a fresh schema, and another node that migrates that schema (it holds the lock). */
  async function schedulerBehindAMigration(label: string) {
    const schema = freshSchema(label);
    schemas.push(schema);
    const otherNode = await migratingNode();
    const watched = watchedLogger();
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
    const scheduler = new Scheduler({ store, logger: watched.logger });
    await otherNode.holdMigrationLock(schema);
    return { schema, otherNode, watched, store, scheduler };
  }

  it("let a Scheduler stopped during its start stop without waiting for another node's migration", async () => {
    const { schema, otherNode, watched, scheduler } = await schedulerBehindAMigration('migschedstop');
    const ran: string[] = [];
    scheduler.task('work', (_ctx, name: string) => void ran.push(name));
    try {
      const starting = scheduler.start();
      await watched.untilMigrationsWait();
      // Before: the stop waited for the start, which waited for the other node's migration.
      expect(await endsWhileTheLockIsHeld(scheduler.stop())).toBe(true);
      await starting; // it took effect, and the stop after it ended it
      expect(scheduler.state).toBe('stopped');
      // Released, a start applies the migrations and runs jobs.
      await otherNode.releaseMigrationLock(schema);
      await scheduler.start();
      await scheduler.runJob('work', { args: 'after' });
      expect(ran).toEqual(['after']);
    } finally {
      await otherNode.end();
      await scheduler.stop();
    }
  });

  it("let a Scheduler stopped while ready() opens its store stop without waiting for another node's migration", async () => {
    const { schema, otherNode, watched, scheduler } = await schedulerBehindAMigration('migreadystop');
    scheduler.task('work', () => undefined);
    try {
      const opening = scheduler.ready().catch((error: unknown) => error);
      const adding = scheduler.addJob('work').catch((error: unknown) => error);
      await watched.untilMigrationsWait();
      expect(await endsWhileTheLockIsHeld(scheduler.stop())).toBe(true);
      // What waited for the store is told why it did not go on.
      for (const call of [await opening, await adding]) {
        expect(call).toBeInstanceOf(SchedulerStateError);
        expect(String(call)).toMatch(/stopped while opening the store/);
      }
    } finally {
      await otherNode.releaseMigrationLock(schema);
      await otherNode.end();
      await scheduler.stop();
    }
  });

  it("let a start queued behind a stop give up waiting for another node's migration when stopped again", async () => {
    const { schema, otherNode, scheduler } = await schedulerBehindAMigration('migqueued');
    await otherNode.releaseMigrationLock(schema);
    try {
      await scheduler.start();
      await otherNode.holdMigrationLock(schema); // a rolling deploy: another node migrates now
      const stopping = scheduler.stop();
      const restarting = scheduler.start(); // it waits for the stop, then opens the store anew
      // Before: this stop came while the scheduler was 'stopping'; the start queued before it then
      // waited for the other node's migration, and this stop behind it.
      expect(await endsWhileTheLockIsHeld(scheduler.stop())).toBe(true);
      await stopping;
      await restarting;
      expect(scheduler.state).toBe('stopped');
    } finally {
      await otherNode.releaseMigrationLock(schema);
      await otherNode.end();
      await scheduler.stop();
    }
  });

  it("let one of two Schedulers sharing a store, both starting, stop without waiting for another node's migration", async () => {
    const { schema, otherNode, watched, store, scheduler } = await schedulerBehindAMigration('migshared');
    const sharing = new Scheduler({ store, logger: watched.logger });
    sharing.task('work', () => 'done');
    try {
      const starting = [scheduler.start(), sharing.start()];
      await watched.untilMigrationsWait();
      // Before: the store's shared start went on waiting for the other scheduler, and this stop with it.
      expect(await endsWhileTheLockIsHeld(scheduler.stop())).toBe(true);
      await starting[0];
      expect(scheduler.state).toBe('stopped');
      // The other one still wants its start: it gets it once the migration is done.
      await otherNode.releaseMigrationLock(schema);
      await starting[1];
      expect(await sharing.runJob('work')).toBe('done');
    } finally {
      await otherNode.releaseMigrationLock(schema);
      await otherNode.end();
      await sharing.stop();
      await scheduler.stop();
    }
  });
});

/**
 * Runs `use` with a fresh schema's name, a client of the test database's owner (`admin`) and a
 * login role of the test's own (roles are the whole server's: a random name), with its URL; then
 * drops the schema and the role.
 */
async function withRole(
  label: string,
  use: (fixture: { schema: string; admin: pg.Client; role: string; url: string }) => Promise<void>,
): Promise<void> {
  const schema = freshSchema(label);
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  const role = `kairos_app_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const password = Math.random().toString(36).slice(2);
  const url = new URL(TEST_DATABASE_URL);
  url.username = role;
  url.password = password;
  try {
    await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    await use({ schema, admin, role, url: url.toString() });
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined); // (no role if its creation failed)
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  }
}

/** A scheduler of task `work` on `url`'s role; started, it runs a job of `work` and waits for its end. */
async function runsAJobAs(url: string, schema: string): Promise<void> {
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: url, schema }),
    logger: silentLogger,
  });
  scheduler.task('work', () => 'done');
  try {
    await scheduler.start();
    const jobId = await scheduler.addJob('work');
    await until(
      async () => (await scheduler.getExecutions({ jobId })).items[0]?.outcome === 'succeeded',
      'the job ran',
      10_000,
      20,
    );
  } finally {
    await scheduler.stop();
  }
}

describe('PostgresStore under a role that may use its tables but create nothing', () => {
  it('starts and runs jobs once an owner migrated the schema, and names the privilege when a migration is due', async () => {
    await withRole('priv', async ({ schema, admin, role, url }) => {
      const owner = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
      try {
        expect(await owner.migrate()).toEqual([1, 2, 3, 4, 5]);
      } finally {
        await owner.stop();
      }
      await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`);
      await runsAJobAs(url, schema);
      // A migration due (a newer Kairos deployed before `kairos migrate`): a clear error, no change.
      await admin.query(`DELETE FROM "${schema}".migrations WHERE version = 5`);
      const upgrading = new PostgresStore({ connectionString: url, schema });
      try {
        await expect(upgrading.migrate()).rejects.toThrow(
          /may not create or change Kairos's schema and tables: run `kairos migrate` as their owner/,
        );
      } finally {
        await upgrading.stop();
      }
    });
  });

  it('names the grants it lacks when it may not read which migrations the schema has', async () => {
    await withRole('privread', async ({ schema, admin, role, url }) => {
      const owner = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema });
      try {
        await owner.migrate();
      } finally {
        await owner.stop();
      }
      const migrateAsTheRole = async () => {
        const store = new PostgresStore({ connectionString: url, schema });
        try {
          return await store.migrate().then(
            () => 'migrated',
            (error: unknown) => error,
          );
        } finally {
          await store.stop();
        }
      };
      // Before: both told to run `kairos migrate` as the owner, which finds nothing to do.
      const withoutUsage = await migrateAsTheRole();
      expect(withoutUsage).toBeInstanceOf(StoreError);
      expect(String(withoutUsage)).toMatch(
        new RegExp(
          `role ${role} may not use schema ${schema} \\(it lacks USAGE on it\\): .*GRANT USAGE ON SCHEMA "${schema}" TO ${role}`,
        ),
      );
      await admin.query(`GRANT USAGE ON SCHEMA "${schema}" TO ${role}`);
      expect(String(await migrateAsTheRole())).toMatch(
        new RegExp(
          `lacks SELECT on "${schema}".migrations\\): .*GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schema}" TO ${role}`,
        ),
      );
      await admin.query(`GRANT SELECT ON "${schema}".migrations TO ${role}`);
      expect(await migrateAsTheRole()).toBe('migrated'); // nothing due: it needs to create nothing
    });
  });

  it('creates its tables in a schema a DBA made for it, without the right to create schemas', async () => {
    await withRole('privown', async ({ schema, admin, role, url }) => {
      await admin.query(`CREATE SCHEMA "${schema}" AUTHORIZATION ${role}`);
      await runsAJobAs(url, schema);
    });
  });
});
