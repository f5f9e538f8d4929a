import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pgStoreError, refusedStartupSetting } from '../../../src/stores/postgres/pg-errors.ts';
import { TEST_DATABASE_URL } from './pg-test-database.ts';

/** The error PgBouncer answers a start-up it refuses with (protocol violation). */
const refusal = (message: string) => Object.assign(new Error(message), { code: '08P01' });

describe('pgStoreError for a start-up setting a pooler refuses', () => {
  it('names a setting of the pool, also one given in `options` (as newer PgBouncer reports it)', () => {
    for (const [message, name, inOptions] of [
      ['unsupported startup parameter: search_path', 'search_path', false],
      ['unsupported startup parameter: statement_timeout', 'statement_timeout', false],
      ['unsupported startup parameter in options: statement_timeout', 'statement_timeout', true],
    ] as const) {
      const error = pgStoreError(refusal(message), 'apply migrations');
      expect(error.message).toMatch(new RegExp(`PgBouncer.*refused the setting ${name} .*ignore_startup_parameters`));
      expect(refusedStartupSetting(refusal(message))).toEqual({ name, inOptions });
    }
  });

  it('is not taken for another error that names a parameter', () => {
    expect(refusedStartupSetting(new Error('unrecognized configuration parameter "search_path"'))).toBeNull();
    expect(refusedStartupSetting('unsupported startup parameter: x')).toBeNull(); // not an Error
  });
});

describe('pgStoreError for a pool with no connection to give', () => {
  it('says the connections are all in use, or the database unreachable, and what to do first', async () => {
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1, connectionTimeoutMillis: 100 });
    const held = await pool.connect();
    try {
      const error = await pool.query('SELECT 1').catch((caught: unknown) => caught);
      expect(pgStoreError(error, 'apply migrations').message).toMatch(
        /could not apply migrations: no connection of the pool came free within its connectionTimeoutMillis: all are in use.*scheduler\.ready\(\).*or the database is unreachable/,
      );
    } finally {
      held.release();
      await pool.end();
    }
  });
});

describe('pgStoreError for an error that Prisma passes on (fromPrisma)', () => {
  // Prisma wraps a failed raw query as P2010; its real Prisma 7 form is tested in
  // test/integrations/transactions/prisma.test.ts. Prisma 6 and older query engines keep the
  // database's SQLSTATE in `meta.code` (Prisma's error reference: "Raw query failed. Code: {code}").
  const prismaError = (meta: object) =>
    Object.assign(new Error('Raw query failed.'), { code: 'P2010', clientVersion: '6.19.0', meta });

  it("reads the SQLSTATE where Prisma 6's query engine keeps it", () => {
    const aborted = prismaError({ code: '25P02', message: 'current transaction is aborted' });
    expect(pgStoreError(aborted, 'add a job').message).toMatch(/the transaction given as \{ tx \} is aborted/);
  });

  it('takes no other meta.code for a SQLSTATE', () => {
    const other = Object.assign(new Error('not found'), { code: 'P2025', meta: { code: '25P02' } });
    expect(pgStoreError(other, 'add a job').message).toMatch(/the database reported an error/);
    expect(pgStoreError(prismaError({ code: 'none' }), 'add a job').message).toMatch(/the database reported an error/);
  });
});
