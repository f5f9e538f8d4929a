import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import { StatementNames } from '../../../src/stores/postgres/prepared-statements.ts';
import { jobFixture } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/** Names of the prepared statements a store's connections hold, read from the server. */
async function preparedOn(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ name: string }>('SELECT name FROM pg_prepared_statements');
  return rows.map((row) => row.name);
}

describe('PostgresStore prepared statements', () => {
  it('names its statements, and recovers when a migration changes their columns or the connection loses them', async () => {
    const schema = freshSchema('prep');
    schemas.push(schema);
    // One connection, so the statements prepared on it are the ones we can see.
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const store = new PostgresStore({ pool, schema });
    await store.migrate();
    await store.addJob(jobFixture({ runAt: new Date(Date.now() - 1000) }));
    expect((await store.getJobs({})).items).toHaveLength(1);
    expect((await preparedOn(pool)).some((name) => name.startsWith('kairos_0_'))).toBe(true);
    // A newer node adds a column: `SELECT *` statements prepared before now return other columns.
    await pool.query(`ALTER TABLE "${schema}".jobs ADD COLUMN added_later integer`);
    expect((await store.getJobs({})).items).toHaveLength(1);
    expect((await preparedOn(pool)).some((name) => name.startsWith('kairos_1_'))).toBe(true);
    // The connection loses its prepared statements (a pooler's reset, DISCARD ALL): prepared afresh.
    await pool.query('DEALLOCATE ALL');
    expect((await store.getJobs({})).items).toHaveLength(1);
    expect((await preparedOn(pool)).some((name) => name.startsWith('kairos_2_'))).toBe(true);
    await pool.end();
  });

  it('counts statements refused together as one refusal: a migration seen by five connections at once keeps the names', async () => {
    const schema = freshSchema('prep5');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 5 });
    const store = new PostgresStore({ pool, schema });
    const onEveryConnection = async () => {
      const reads = await Promise.all(Array.from({ length: 5 }, () => store.getJobs({})));
      expect(reads.map((page) => page.items.length)).toEqual([1, 1, 1, 1, 1]);
    };
    try {
      await store.migrate();
      await store.addJob(jobFixture());
      await onEveryConnection();
      await pool.query(`ALTER TABLE "${schema}".jobs ADD COLUMN added_later integer`);
      await onEveryConnection(); // each refused under the same names: one new generation, not five
      await onEveryConnection();
      const names = await preparedOn(pool);
      expect(names.some((name) => name.startsWith('kairos_1_'))).toBe(true);
      expect(names.some((name) => /^kairos_[2-9]_/.test(name))).toBe(false);
    } finally {
      await store.stop();
      await pool.end();
    }
  });

  it('keeps naming its statements through migrations that change their columns three times in a minute', async () => {
    const schema = freshSchema('prep3');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const store = new PostgresStore({ pool, schema });
    try {
      await store.migrate();
      await store.addJob(jobFixture());
      for (let change = 1; change <= 3; change++) {
        expect((await store.getJobs({})).items).toHaveLength(1);
        await pool.query(`ALTER TABLE "${schema}".jobs ADD COLUMN added_${change} integer`);
      }
      expect((await store.getJobs({})).items).toHaveLength(1);
      // Not lost statements, which would say a pooler is in the way: the names stay.
      expect((await preparedOn(pool)).some((name) => name.startsWith('kairos_3_'))).toBe(true);
    } finally {
      await store.stop();
      await pool.end();
    }
  });

  it('sends plain statements when told to (PgBouncer in transaction mode)', async () => {
    const schema = freshSchema('plain');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const store = new PostgresStore({ pool, schema, preparedStatements: false });
    await store.migrate();
    await store.addJob(jobFixture());
    expect((await store.getJobs({})).items).toHaveLength(1);
    expect(await preparedOn(pool)).toEqual([]);
    await pool.end();
  });

  it('rejects a preparedStatements option that is not a boolean', () => {
    expect(
      () => new PostgresStore({ connectionString: TEST_DATABASE_URL, preparedStatements: 'yes' as never }),
    ).toThrow(ValidationError);
  });
});

describe('StatementNames counting refusals', () => {
  // The answers a server gives, in an order hard to bring about for real: a migration's column
  // change (0A000, not counted) among a pooler's lost statements (26000, counted).
  it('gets a statement through one column change and the three losses that give names up', async () => {
    const answers = ['0A000', '26000', '26000', '26000'];
    const sent: Array<string | undefined> = [];
    let gaveUp = false;
    const names = new StatementNames(() => (gaveUp = true));
    const server = {
      query: async (config: { name?: string }) => {
        sent.push(config.name);
        const code = config.name === undefined ? undefined : answers.shift();
        if (code !== undefined) throw Object.assign(new Error(`refused (${code})`), { code });
        return { rows: [{ ok: 1 }], rowCount: 1 };
      },
    };
    const result = await names.query(server as never, { text: 'SELECT 1 AS ok' }, undefined, true);
    expect(result.rows).toEqual([{ ok: 1 }]);
    expect(gaveUp).toBe(true);
    expect(sent.at(-1)).toBeUndefined(); // the last try went out unnamed
    expect(sent).toHaveLength(5);
  });
});
