// A node whose own clock is off writes every time on the database's clock: delays, first fire
// times, retry times, and the history of its runs.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { type Clock, systemClock } from '../../../src/time/clock.ts';
import { until } from '../../support/child-node.ts';
import { TcpProxy } from '../../support/tcp-proxy.ts';
import { LocalEventBroker } from '../../../src/events/local-event-broker.ts';
import { jobFixture } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
afterAll(async () => {
  await admin.end();
  await dropSchemas(schemas);
});

/** The system clock, `offsetMs` off (its steady reading is not: it has no date). */
const clockOff = (offsetMs: number): Clock => ({ ...systemClock, now: () => systemClock.now() + offsetMs });

/** A scheduler whose clock is `offsetMs` off, on a fresh schema; its store is not opened yet. */
function nodeOff(offsetMs: number, label: string): { scheduler: Scheduler; schema: string } {
  const schema = freshSchema(label);
  schemas.push(schema);
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
    clock: clockOff(offsetMs),
    logger: silentLogger,
  });
  return { scheduler, schema };
}

/** Seconds from the database's now to `column` of the row `where` picks. */
async function secondsFromDbNow(schema: string, table: string, column: string, where: string): Promise<number> {
  const { rows } = await admin.query<{ s: number }>(
    `SELECT extract(epoch FROM ${column} - now())::float8 AS s FROM "${schema}".${table} WHERE ${where}`,
  );
  expect(rows).toHaveLength(1);
  return rows[0]?.s ?? Number.NaN;
}

describe('A node whose clock is off', () => {
  for (const offsetMs of [120_000, -120_000]) {
    it(`adds its first job and schedule on the database's clock (node ${offsetMs / 1000} s)`, async () => {
      const { scheduler, schema } = nodeOff(offsetMs, 'clock_add');
      scheduler.task('t', () => {});
      try {
        // The first calls open the store, which measures the database's clock.
        const jobId = await scheduler.addJob('t', { delay: '10s' });
        await scheduler.addSchedule('t', '* * * * *', { id: 'every-minute' });
        const runAt = await secondsFromDbNow(schema, 'jobs', 'run_at', `id = '${jobId}'`);
        expect(runAt).toBeGreaterThan(8);
        expect(runAt).toBeLessThanOrEqual(10.5);
        const firstFire = await secondsFromDbNow(schema, 'schedules', 'next_fire_time', `id = 'every-minute'`);
        expect(firstFire).toBeGreaterThan(0);
        expect(firstFire).toBeLessThanOrEqual(60);
      } finally {
        await scheduler.stop();
      }
    });
  }

  for (const offsetMs of [60_000, -60_000]) {
    it(`writes a retry's time and its run's history on the database's clock (node ${offsetMs / 1000} s)`, async () => {
      const { scheduler, schema } = nodeOff(offsetMs, 'clock_retry');
      scheduler.task(
        'fails',
        () => {
          throw new Error('boom');
        },
        { retry: { attempts: 2, backoff: '30s' } },
      );
      try {
        await scheduler.start();
        const jobId = await scheduler.addJob('fails');
        await until(
          async () => (await scheduler.getExecutions({ jobId })).items.length === 1,
          'the first attempt failed',
          10_000,
          10,
        );
        const retryIn = await secondsFromDbNow(schema, 'jobs', 'run_at', `id = '${jobId}' AND status = 'pending'`);
        expect(retryIn).toBeGreaterThan(25);
        expect(retryIn).toBeLessThanOrEqual(30.5);
        const started = await secondsFromDbNow(schema, 'executions', 'started_at', `job_id = '${jobId}'`);
        expect(Math.abs(started)).toBeLessThan(5); // it ran just now, not a minute off
      } finally {
        await scheduler.stop();
      }
    });
  }

  for (const offsetMs of [7_200_000, -7_200_000]) {
    it(`prunes history by an age on the database's clock (node ${offsetMs / 3_600_000} h)`, async () => {
      const { scheduler, schema } = nodeOff(offsetMs, 'clock_prune');
      const setUp = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 1 });
      await setUp.migrate();
      await setUp.stop();
      await admin.query(
        `INSERT INTO "${schema}".executions (id, job_id, task, args, run_at, finished_at, outcome, result, attempt)
         SELECT 'run-' || m, 'job-' || m, 't', 'null', now() - m * interval '1 minute', now() - m * interval '1 minute',
                'succeeded', 'null', 1
         FROM unnest(ARRAY[30, 90]) AS m`,
      );
      try {
        // The first call, so it opens the store, which measures the database's clock.
        expect(await scheduler.pruneExecutions({ olderThan: '1h' })).toBe(1);
        const { rows } = await admin.query<{ id: string }>(`SELECT id FROM "${schema}".executions`);
        expect(rows.map((row) => row.id)).toEqual(['run-30']);
      } finally {
        await scheduler.stop();
      }
    });
  }

  it('that is put right while it only adds jobs makes its times as before, and reads the database clock again within a minute', async () => {
    const schema = freshSchema('clock_reread');
    schemas.push(schema);
    // A web process: it never starts the scheduler, so no claim re-reads the database's clock.
    // `elapse` moves both of the node's clocks on, as time passing does, but not the database's:
    // the node's clocks run fast, which only a new reading of the database's clock makes up for.
    const wall = { offsetMs: 120_000, steadyShiftMs: 0 };
    const elapse = (ms: number) => {
      wall.offsetMs += ms;
      wall.steadyShiftMs += ms;
    };
    const clock: Clock = {
      ...systemClock,
      now: () => systemClock.now() + wall.offsetMs,
      monotonicNow: () => performance.now() + wall.steadyShiftMs,
    };
    const scheduler = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
      clock,
      logger: silentLogger,
    });
    scheduler.task('t', () => {});
    const runsIn = async (jobId: string) => secondsFromDbNow(schema, 'jobs', 'run_at', `id = '${jobId}'`);
    const aboutTenSeconds = async () => {
      const seconds = await runsIn(await scheduler.addJob('t', { delay: '10s' }));
      expect(seconds).toBeGreaterThan(8);
      expect(seconds).toBeLessThanOrEqual(10.5);
    };
    try {
      await aboutTenSeconds();
      wall.offsetMs = 0; // NTP puts the wall clock right: the clocks parted, so it reads again
      await aboutTenSeconds();
      elapse(30_000);
      // Read half a minute ago: still trusted, the fast clocks and all.
      expect(await runsIn(await scheduler.addJob('t', { delay: '10s' }))).toBeGreaterThan(35);
      elapse(31_000);
      await aboutTenSeconds(); // read a minute ago: read again
      // A stop while a call waits for the reading lets that call go on first, to the open store.
      elapse(61_000);
      const order: string[] = [];
      const adding = scheduler.addJob('t').then(() => order.push('added'));
      await scheduler.stop();
      order.push('stopped');
      await adding;
      expect(order).toEqual(['added', 'stopped']);
    } finally {
      await scheduler.stop();
    }
  });
});

describe('A node whose clocks part: its wall clock stepped (NTP), or its host suspended (the monotonic clock misses the sleep)', () => {
  /** A node on a fresh schema whose wall clock reads `wall.offsetMs` off and whose monotonic clock missed `asleepMs`. */
  function nodeWithClocks(label: string) {
    const schema = freshSchema(label);
    schemas.push(schema);
    const clocks = { offsetMs: 0, asleepMs: 0 };
    const scheduler = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }),
      clock: {
        ...systemClock,
        now: () => systemClock.now() + clocks.offsetMs,
        monotonicNow: () => performance.now() - clocks.asleepMs,
      },
      logger: silentLogger,
    });
    scheduler.task('t', () => {});
    const delayOfTenSecondsRunsIn = async (label: string) => {
      const jobId = await scheduler.addJob('t', { delay: '10s' });
      const seconds = await secondsFromDbNow(schema, 'jobs', 'run_at', `id = '${jobId}'`);
      expect(seconds, label).toBeGreaterThan(8);
      expect(seconds, label).toBeLessThanOrEqual(10.5);
    };
    return { schema, scheduler, clocks, delayOfTenSecondsRunsIn };
  }

  it('makes its times on the database clock all the same, running', async () => {
    const { scheduler, clocks, delayOfTenSecondsRunsIn } = nodeWithClocks('clock_step');
    try {
      await scheduler.start(); // reads the database's clock
      for (const offsetMs of [30_000, -30_000]) {
        clocks.offsetMs = offsetMs;
        // Before: off by the step until the next claim re-measured the offset (40 s and -20 s).
        await delayOfTenSecondsRunsIn(`wall clock stepped ${offsetMs} ms`);
      }
      clocks.offsetMs = 0;
      clocks.asleepMs = 3_600_000; // an hour's suspend, resumed: the wall clock is right
      // Before the fix of the review: due an hour ago, the offset kept against the monotonic clock.
      await delayOfTenSecondsRunsIn('resumed after an hour');
    } finally {
      await scheduler.stop();
    }
  });

  it('makes its times on the database clock all the same, in a process that only adds jobs and schedules', async () => {
    const { schema, scheduler, clocks, delayOfTenSecondsRunsIn } = nodeWithClocks('clock_suspend');
    try {
      await scheduler.ready();
      clocks.asleepMs = 3_600_000;
      await delayOfTenSecondsRunsIn('resumed after an hour');
      await scheduler.addSchedule('t', '* * * * *', { id: 'every-minute' });
      const firstFire = await secondsFromDbNow(schema, 'schedules', 'next_fire_time', `id = 'every-minute'`);
      expect(firstFire).toBeGreaterThan(0); // not an hour of fires in the past
      expect(firstFire).toBeLessThanOrEqual(60);
    } finally {
      await scheduler.stop();
    }
  });
});

describe('A node whose clock was put right between ready() and start()', () => {
  it('reads the database clock again at start: its fence for stray jobs leaves out what a process before it claimed', async () => {
    const schema = freshSchema('clock_start');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const wall = { offsetMs: 120_000, steadyShiftMs: 0 };
    const clock: Clock = {
      ...systemClock,
      now: () => systemClock.now() + wall.offsetMs,
      monotonicNow: () => performance.now() + wall.steadyShiftMs,
    };
    const node = new Scheduler({
      store: new PostgresStore({ connectionString: await proxy.start(), schema }),
      clock,
      logger: silentLogger,
      nodeId: 'clock-start-node',
      leaseDuration: '60s',
    });
    const ran: string[] = [];
    node.task('clock-start-task', (ctx) => void ran.push(ctx.jobId), { retry: { abandoned: 0 } });
    const other = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 1 });
    try {
      await node.ready(); // reads the database's clock: the node's is two minutes ahead
      // A process before this one, with the same node id, claimed a job a minute ago and died running it.
      await other.start({ events: new LocalEventBroker(), clock: systemClock, logger: silentLogger, wake: () => {} });
      const earlier = jobFixture({
        task: 'clock-start-task',
        abandonRetries: 0,
        runAt: new Date(Date.now() - 120_000),
      });
      await other.addJob(earlier);
      const tasks = [{ name: 'clock-start-task', maxRunningJobs: null }];
      expect((await other.acquireJobs('clock-start-node', { leaseMs: 60_000, limit: 1, tasks })).jobs).toHaveLength(1);
      await admin.query(`UPDATE "${schema}".jobs SET started_at = started_at - interval '60 seconds'`);
      // NTP puts the node's clock right, a minute later by its steady clock.
      wall.offsetMs = 0;
      wall.steadyShiftMs = 61_000;
      // Its first claim's answer is lost: it looks for strays once a claim goes through.
      const lost = proxy.loseReplyTo('clock-start-node', 'clock-start-task');
      await node.start();
      await lost;
      const later = jobFixture({ task: 'clock-start-task', runAt: new Date(Date.now() - 1000) });
      await other.addJob(later);
      await until(() => ran.includes(later.id), 'a job added later runs', 20_000, 20);
      expect(ran).toEqual([later.id]);
      expect(await secondsFromDbNow(schema, 'jobs', 'acquired_until', `id = '${earlier.id}'`)).toBeGreaterThan(30);
    } finally {
      await node.stop();
      await other.stop({ events: new LocalEventBroker(), clock: systemClock, logger: silentLogger, wake: () => {} });
      await proxy.stop();
    }
  });
});
