import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../../src/postgres.ts';
import { jobFixture, scheduleFixture, startOnVirtualClock, T0 } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe('PostgresStore release of fired schedules while an application transaction holds one of them', () => {
  it('writes the other fires and leaves that schedule leased to the node, which takes it again once the transaction ends', async () => {
    const schema = freshSchema('held');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    const h = await startOnVirtualClock(new PostgresStore({ pool, schema }));
    const app = await pool.connect();
    try {
      await h.store.addSchedule(scheduleFixture('s1'), 'error');
      await h.store.addSchedule(scheduleFixture('s2'), 'error');
      expect((await h.store.acquireSchedules('n1', 30_000, 10)).schedules).toHaveLength(2);
      // The application replaces s1 inside its transaction and keeps the transaction open.
      const { rows: backend } = await app.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await app.query('BEGIN');
      await h.store.addSchedule(scheduleFixture('s1', { args: { n: 2 } }), 'replace', app);
      const fire = (scheduleId: string) => ({
        scheduleId,
        revision: 1,
        nextFireTime: new Date(T0 + 60_000),
        lastFireTime: new Date(T0),
        jobs: [jobFixture({ scheduleId, fireTime: new Date(T0), maxInstances: 1 })],
        missed: [],
      });
      // Resolves while the application's transaction is still open.
      const released = await h.store.releaseSchedules('n1', [fire('s1'), fire('s2')]);
      expect(released.jobs.map((job) => job.scheduleId)).toEqual(['s2']);
      const { rows: state } = await pool.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE pid = $1', [
        backend[0]?.pid,
      ]);
      expect(state[0]?.state).toBe('idle in transaction');
      await app.query('COMMIT');
      const stored = (await h.store.getSchedules({ ids: ['s1', 's2'] })).items;
      expect(stored.map((schedule) => [schedule.id, schedule.acquiredBy])).toEqual([
        ['s1', 'n1'], // still leased to n1: it fires once the lease lapses
        ['s2', null],
      ]);
      expect(stored[0]?.args).toEqual({ n: 2 });
      // No other node may take it before its lease lapses; n1's next pass (the commit's NOTIFY
      // wakes it) takes it again at once, and fires it as replaced.
      expect((await h.store.acquireSchedules('n2', 30_000, 10)).schedules).toEqual([]);
      const again = (await h.store.acquireSchedules('n1', 30_000, 10)).schedules;
      expect(again.map((schedule) => [schedule.id, schedule.args])).toEqual([['s1', { n: 2 }]]);
    } finally {
      await app.query('ROLLBACK').catch(() => {});
      app.release();
      await h.close();
      await pool.end();
    }
  });
});
