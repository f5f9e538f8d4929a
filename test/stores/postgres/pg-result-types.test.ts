import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/postgres.ts';
import { executionFixture, jobFixture, TASKS } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/** What an application might set globally: JSON kept as text, everything else as raw strings. */
const OVERRIDDEN = [16, 20, 21, 23, 114, 1184];
const originals = new Map(OVERRIDDEN.map((oid) => [oid, pg.types.getTypeParser(oid, 'text')]));
afterEach(() => {
  for (const [oid, parser] of originals) pg.types.setTypeParser(oid, 'text', parser);
});

describe('PostgresStore result parsing', () => {
  it("reads its rows the same when the application changed node-postgres's global type parsers", async () => {
    for (const oid of OVERRIDDEN) pg.types.setTypeParser(oid, 'text', (text: string) => `raw:${text}`);
    const schema = freshSchema('types');
    schemas.push(schema);
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 });
    try {
      await store.migrate();
      const job = jobFixture({ args: { nested: [1, 'two'] }, runAt: new Date(Date.now() - 1000) });
      await store.addJob(job);
      const [listed] = (await store.getJobs({ ids: [job.id] })).items;
      expect(listed).toMatchObject({ args: { nested: [1, 'two'] }, attempt: 1, cancelRequested: false });
      expect(listed?.runAt).toEqual(job.runAt);
      const { jobs } = await store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks: TASKS });
      expect(jobs.map((j) => j.id)).toEqual([job.id]);
      const execution = executionFixture(job, { result: { ok: true }, durationMs: 12 });
      expect(await store.releaseJob('n1', job.id, { execution })).toBe(true);
      const [recorded] = (await store.getExecutions({ jobId: job.id })).items;
      expect(recorded).toEqual(execution);
      expect(await store.migrate()).toEqual([]); // reads the schema's version as a number: nothing to apply
    } finally {
      await store.stop();
    }
  });
});
