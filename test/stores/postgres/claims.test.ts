import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { LocalEventBroker } from '../../../src/events/local-event-broker.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import type { JobRecord } from '../../../src/stores/records.ts';
import { systemClock } from '../../../src/time/clock.ts';
import { capLockKey } from '../../../src/stores/postgres/postgres-jobs.ts';
import { jobFixture, scheduleFixture, startOnVirtualClock, T0, TASKS } from '../conformance/harness.ts';
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

  it('hands out the jobs its first claim leased even when claiming the capped ones then fails', async () => {
    const schema = freshSchema('claimfail');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    // Capped jobs are claimed in a transaction of their own, on a client checked out for it.
    let refuseClients = false;
    const failingPool = {
      query: pool.query.bind(pool),
      end: () => pool.end(),
      on: pool.on.bind(pool),
      connect: () => (refuseClients ? Promise.reject(new Error('connection refused')) : pool.connect()),
    };
    const h = await startOnVirtualClock(new PostgresStore({ pool: failingPool as unknown as pg.Pool, schema }));
    try {
      const uncapped = jobFixture({ runAt: new Date(T0 - 2000), abandonRetries: 0 });
      await h.store.addJob(uncapped);
      await h.store.addJob(jobFixture({ task: 'task-b', runAt: new Date(T0 - 1000) }));
      const tasks = [TASKS[0], { name: 'task-b', maxRunningJobs: 1 }] as typeof TASKS;
      refuseClients = true;
      const acquired = await h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks });
      // Leased to n1 by the first claim: dropped here, it would be recorded abandoned, unrun.
      expect(acquired.jobs.map((job) => job.id)).toEqual([uncapped.id]);
      // The next acquire tries the capped job again, and reports the failure if it lasts.
      await expect(h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks })).rejects.toThrow(/acquire jobs/);
      refuseClients = false;
      const later = await h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks });
      expect(later.jobs.map((job) => job.task)).toEqual(['task-b']);
    } finally {
      await h.close();
    }
  });

  it("keep a task's cap when the application's transactions default to repeatable read", async () => {
    const schema = freshSchema('claimrr');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    pool.on('connect', (client) => void client.query(`SET default_transaction_isolation = 'repeatable read'`));
    // Holds n1's capped claim after its first statement (where a repeatable read takes its snapshot).
    let hold: { reached: () => void; go: Promise<void> } | null = null;
    const gatedPool = {
      query: pool.query.bind(pool),
      end: () => pool.end(),
      on: pool.on.bind(pool),
      connect: async () => {
        const client = await pool.connect();
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
        return Object.assign(client, {
          query: async (...args: unknown[]) => {
            const result = await query(...args);
            const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
            const held = hold;
            if (held !== null && /AS now$/.test(text ?? '')) {
              hold = null;
              held.reached();
              await held.go;
            }
            return result;
          },
        });
      },
    };
    const n1 = await startOnVirtualClock(new PostgresStore({ pool: gatedPool as unknown as pg.Pool, schema }));
    const n2 = await startOnVirtualClock(
      new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
    );
    const tasks = [TASKS[0], { name: 'task-b', maxRunningJobs: 1 }] as typeof TASKS;
    try {
      await n1.store.addJob(jobFixture({ task: 'task-b', runAt: new Date(T0 - 1000) }));
      let go = () => {};
      const reached = new Promise<void>((resolve) => {
        hold = { reached: resolve, go: new Promise<void>((release) => (go = release)) };
      });
      const n1Claim = n1.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks });
      await reached;
      // Meanwhile another node claims an earlier job of the task, and commits.
      await n2.store.addJob(jobFixture({ task: 'task-b', runAt: new Date(T0 - 2000) }));
      expect((await n2.store.acquireJobs('n2', { leaseMs: 30_000, limit: 10, tasks })).jobs).toHaveLength(1);
      go();
      expect((await n1Claim).jobs).toEqual([]); // the cap is taken by n2's job
      const running = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs WHERE status = 'running'`);
      expect(running.rows).toEqual([{ n: 1 }]);
    } finally {
      await n2.close();
      await n1.close();
      await pool.end();
    }
  });

  it("tell the node each claim's start as the store fences hand-backs on it, on the database's clock", async () => {
    // The database keeps microseconds, the node milliseconds: each path that leases a job must
    // give the node a start its hand-back matches.
    const schema = freshSchema('claimstart');
    schemas.push(schema);
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 });
    await store.start({ events: new LocalEventBroker(), clock: systemClock, logger: silentLogger, wake: () => {} });
    try {
      const past = new Date(Date.now() - 1000);
      const tasks = [TASKS[0], { name: 'task-b', maxRunningJobs: 1 }] as typeof TASKS;
      await store.addJob(jobFixture({ runAt: past }));
      await store.addJob(jobFixture({ task: 'task-b', runAt: past }));
      const claimed = (await store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks })).jobs;
      expect(claimed.map((job) => job.task).sort()).toEqual(['task-a', 'task-b']); // uncapped and capped claims
      await store.addSchedule(scheduleFixture('s1', { nextFireTime: past }), 'error');
      await store.acquireSchedules('n1', 30_000, 10);
      const fired = jobFixture({ scheduleId: 's1', fireTime: past, runAt: past });
      const released = await store.releaseSchedules(
        'n1',
        [{ scheduleId: 's1', revision: 1, nextFireTime: null, lastFireTime: past, jobs: [fired], missed: [] }],
        { leaseMs: 30_000, jobIds: new Set([fired.id]) },
      );
      expect(released.started.map((job) => job.id)).toEqual([fired.id]); // leased by the fire itself
      const handBack = (job: JobRecord) =>
        store.releaseJob('n1', job.id, {
          execution: null,
          attempt: job.attempt,
          startedAt: job.startedAt,
          requeue: {
            runAt: job.runAt,
            startDeadline: null,
            attempt: job.attempt,
            abandonRetries: job.abandonRetries,
            failedRuns: job.failedRuns,
          },
        });
      for (const job of [...claimed, ...released.started]) expect(await handBack(job)).toBe(true);
      expect((await store.getJobs({})).items.map((job) => job.status)).toEqual(['pending', 'pending', 'pending']);
    } finally {
      await store.stop();
    }
  });

  it("are not held back by another schema's node deciding the same task's cap", async () => {
    const schema = freshSchema('caplock');
    const other = freshSchema('caplock_other');
    schemas.push(schema);
    const h = await startOnVirtualClock(
      new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
    );
    // Stands in for a node whose claim holds a cap's lock (schedule ids and task names repeat
    // across applications: 'cleanup', 'send-email').
    const holder = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    const hold = (inSchema: string) =>
      holder.query('SELECT pg_advisory_lock(hashtext($1))', [capLockKey(inSchema, 'task:task-b')]);
    const unhold = (inSchema: string) =>
      holder.query('SELECT pg_advisory_unlock(hashtext($1))', [capLockKey(inSchema, 'task:task-b')]);
    try {
      const tasks = [TASKS[0], { name: 'task-b', maxRunningJobs: 1 }] as typeof TASKS;
      const acquire = () => h.store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks });
      await h.store.addJob(jobFixture({ task: 'task-b', runAt: new Date(T0 - 1000) }));
      // The lock of this schema's cap does hold the claim back...
      await hold(schema);
      expect((await acquire()).jobs).toEqual([]);
      await unhold(schema);
      // ...and the same task's lock in another schema does not.
      await hold(other);
      expect((await acquire()).jobs.map((job) => job.task)).toEqual(['task-b']);
    } finally {
      await holder.end();
      await h.close();
    }
  });
});
