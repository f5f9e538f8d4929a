import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/postgres.ts';
import { jobFixture, startOnVirtualClock, T0, TASKS } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe('PostgresStore claims', () => {
  it('answer when to look again in the claim itself, so a node need not ask (nextJobTimes)', async () => {
    const schema = freshSchema('claims');
    schemas.push(schema);
    const h = await startOnVirtualClock(
      new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
    );
    try {
      await h.store.addJob(jobFixture({ runAt: new Date(T0 - 1000) }));
      await h.store.addJob(jobFixture({ runAt: new Date(T0 + 7000) }));
      const acquired = await h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks: TASKS });
      expect(acquired.jobs).toHaveLength(1);
      // Its own lease is left out: the node renews it.
      expect(acquired.next).toEqual({ runAt: new Date(T0 + 7000), leaseExpiry: null });
    } finally {
      await h.close();
    }
  });
});
