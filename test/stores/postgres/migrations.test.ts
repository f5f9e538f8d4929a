import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/postgres.ts';
import { jobFixture } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe('PostgresStore migrations 2 to 4: a job is leased exactly while it runs; claims have the indexes they need', () => {
  it('upgrades a version-1 schema, and the database then refuses a lease on a pending job', async () => {
    const schema = freshSchema('mig');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const store = new PostgresStore({ pool, schema });
    try {
      expect(await store.migrate()).toEqual([1, 2, 3, 4]);
      // Back to what a Kairos with only migration 1 left, with a job in it.
      await pool.query(`ALTER TABLE "${schema}".jobs DROP CONSTRAINT jobs_leased_while_running`);
      await pool.query(`DROP INDEX "${schema}".jobs_pending_once`);
      await pool.query(`DROP INDEX "${schema}".jobs_pending_uncapped`);
      await pool.query(`DELETE FROM "${schema}".migrations WHERE version >= 2`);
      const job = jobFixture();
      await store.addJob(job);
      // A row that breaks the rule, left by whatever came before: the upgrade does not re-check it.
      const stray = jobFixture();
      await store.addJob(stray);
      await pool.query(`UPDATE "${schema}".jobs SET acquired_by = 'gone' WHERE id = $1`, [stray.id]);
      expect(await store.migrate()).toEqual([2, 3, 4]);
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
