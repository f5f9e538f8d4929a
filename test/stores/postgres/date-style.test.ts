import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { StoreError } from '../../../src/errors.ts';
import { PostgresEventBroker, PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { checkAutovacuum } from '../../../src/stores/postgres/pg-connection-settings.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/** A scheduler on a pool whose connections use `dateStyle`. */
async function startOn(dateStyle: string): Promise<{ scheduler: Scheduler; pool: pg.Pool; store: PostgresStore }> {
  const schema = freshSchema('datestyle');
  schemas.push(schema);
  const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, options: `-c DateStyle=${dateStyle}` });
  const store = new PostgresStore({ pool, schema });
  const scheduler = new Scheduler({ store, logger: silentLogger });
  return { scheduler, pool, store };
}

describe('PostgresStore and the DateStyle setting', () => {
  it('refuses to start when timestamps would be printed in a style it cannot read', async () => {
    const { scheduler, pool, store } = await startOn('SQL,DMY');
    try {
      const started = scheduler.start();
      await expect(started).rejects.toBeInstanceOf(StoreError);
      await expect(started).rejects.toThrow(/DateStyle is "SQL, DMY".*ISO/);
      // Nothing of the failed start stays open (its LISTEN connection did, before).
      expect((store.defaultEventBroker() as PostgresEventBroker).connected).toBe(false);
    } finally {
      await scheduler.stop();
      await pool.end();
    }
  });

  it('starts and runs jobs under any ISO style, whatever the day-month order', async () => {
    const { scheduler, pool } = await startOn('ISO,DMY');
    try {
      scheduler.task('hello', () => 'hi');
      await scheduler.start();
      expect(await scheduler.runJob('hello')).toBe('hi');
    } finally {
      await scheduler.stop();
      await pool.end();
    }
  });

  it('tries the check again at the next start when reading the setting failed once', async () => {
    const schema = freshSchema('datestyle');
    schemas.push(schema);
    const real = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    let failuresLeft = 1;
    // The application's pool, whose connection drops while the setting is read, once.
    const pool = {
      options: real.options,
      query: (config: { text: string }, values?: unknown[]) =>
        /DateStyle/.test(config.text) && failuresLeft-- > 0
          ? Promise.reject(new Error('Connection terminated unexpectedly'))
          : real.query(config, values),
      connect: () => real.connect(),
      end: () => real.end(),
      on: (event: 'error', listener: (error: Error) => void) => real.on(event, listener),
    };
    const scheduler = new Scheduler({
      store: new PostgresStore({ pool: pool as never, schema }),
      logger: silentLogger,
    });
    try {
      await expect(scheduler.start()).rejects.toBeInstanceOf(StoreError);
      await scheduler.start(); // before: the first failure was kept and given to every later start
      scheduler.task('hello', () => 'hi');
      expect(await scheduler.runJob('hello')).toBe('hi');
    } finally {
      await scheduler.stop();
      await real.end();
    }
  });
});

describe('PostgresStore and the isolation level of its connections', () => {
  it('warns once at start when they default to repeatable read, and names the setting', async () => {
    const schema = freshSchema('isolation');
    schemas.push(schema);
    const pool = new pg.Pool({
      connectionString: TEST_DATABASE_URL,
      max: 2,
      options: '-c default_transaction_isolation=repeatable\\ read',
    });
    const warnings: string[] = [];
    const scheduler = new Scheduler({
      store: new PostgresStore({ pool, schema, queryTimeout: null }),
      logger: { ...silentLogger, warn: (_fields, message) => void warnings.push(String(message)) },
    });
    scheduler.task('hello', () => 'hi');
    try {
      await scheduler.start();
      expect(await scheduler.runJob('hello')).toBe('hi');
      const isolation = warnings.filter((message) => /default_transaction_isolation/.test(message));
      expect(isolation).toHaveLength(1);
      expect(isolation[0]).toMatch(
        /default_transaction_isolation is "repeatable read".*serialization error.*read committed/,
      );
    } finally {
      await scheduler.stop();
      await pool.end();
    }
  });
});

describe("PostgresStore and the server's autovacuum", () => {
  it('warns once at start when the server does not vacuum, and not when it does', async () => {
    const schema = freshSchema('autovacuum');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const { rows } = await pool.query<{ autovacuum: string }>('SHOW autovacuum');
    const warnings: string[] = [];
    const scheduler = new Scheduler({
      store: new PostgresStore({ pool, schema }),
      logger: { ...silentLogger, warn: (_fields, message) => void warnings.push(String(message)) },
    });
    try {
      await scheduler.start();
      const vacuumWarnings = warnings.filter((message) => /autovacuum/.test(message));
      // Whichever way this server is set: the warning says it exactly when it is off.
      expect(vacuumWarnings).toHaveLength(rows[0]?.autovacuum === 'off' ? 1 : 0);
    } finally {
      await scheduler.stop();
      await pool.end();
    }
  });

  it('judges the setting read: off warns and names the fix, on says nothing', () => {
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    checkAutovacuum('on', logger);
    expect(warnings).toEqual([]);
    checkAutovacuum('off', logger);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/autovacuum is off.*claims slow down.*ALTER SYSTEM SET autovacuum = on/);
  });
});
