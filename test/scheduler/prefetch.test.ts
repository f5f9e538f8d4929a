import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { createTestScheduler } from '../../src/testing/index.ts';
import { date } from '../../src/triggers/index.ts';
import { until } from '../support/child-node.ts';
import { prefetchHarness, T0 } from './prefetch-harness.ts';

const harness = prefetchHarness();

describe('prefetchJobs: a local queue of jobs claimed beyond the free slots', () => {
  const { make, slowTask, addJobs } = harness;

  /** A task capped cluster-wide (maxRunningJobs 1) taking 1 s; its start is recorded as -1. */
  function limitedTask(seen: { started: number[] }): void {
    harness.scheduler.task(
      'limited',
      async (ctx) => {
        seen.started.push(-1);
        await ctx.sleep('1s');
      },
      { maxRunningJobs: 1 },
    );
  }

  it('claims up to prefetchJobs more than it can run; they wait leased here and start first claimed first', async () => {
    const scheduler = make({ maxConcurrentJobs: 2, prefetchJobs: 3 });
    const seen = slowTask(1000);
    await addJobs(10);
    await scheduler.start();
    await scheduler.advance('10ms');
    const jobs = (await scheduler.getJobs()).items;
    const leased = jobs.filter((job) => job.status === 'running');
    expect(leased).toHaveLength(5); // 2 running, 3 waiting here
    expect(new Set(leased.map((job) => job.acquiredBy))).toEqual(new Set([scheduler.nodeId]));
    expect(jobs.filter((job) => job.status === 'pending')).toHaveLength(5);
    expect(seen.started).toEqual([0, 1]);
    await scheduler.advance('10s');
    expect(seen.started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(seen.peak).toBe(2);
    const history = await scheduler.history();
    expect(history.map((e) => [e.outcome, e.attempt])).toEqual(Array.from({ length: 10 }, () => ['succeeded', 1]));
  });

  it('of the jobs one claim brings, gives the free slots to those a cluster-wide cap applies to first', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3 });
    const seen = slowTask(1000);
    limitedTask(seen);
    await addJobs(3);
    await scheduler.addJob('limited'); // due last, claimed with the others
    await scheduler.start();
    await scheduler.advance('10s');
    expect(seen.started).toEqual([-1, 0, 1, 2]);
  });

  it('keeps the queue first claimed first across claims: a capped job claimed later waits its turn', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3 });
    const seen = slowTask(1000);
    limitedTask(seen);
    await addJobs(4); // 0 runs, 1-3 wait in the queue
    await scheduler.start();
    await scheduler.advance('10ms');
    await scheduler.addJob('limited'); // claimed once the queue has room for half a batch, behind 3
    await scheduler.advance('10s');
    expect(seen.started).toEqual([0, 1, 2, 3, -1]);
  });

  it('never queues a job that must not run twice (retry.abandoned 0), nor any job behind it', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3 });
    const seen = slowTask(1000);
    scheduler.task(
      'once',
      async (ctx) => {
        seen.started.push(-1);
        await ctx.sleep('1s');
      },
      { retry: { abandoned: 0 } },
    );
    await scheduler.addJob('once'); // due first: takes the free slot
    await scheduler.addJob('once');
    await addJobs(4);
    await scheduler.start();
    await scheduler.advance('10ms');
    // Queued here, the second would be recorded abandoned, unrun, should this node die first; and
    // jobs claimed past it would overtake it. It waits in the store for the next free slot.
    const leased = (await scheduler.getJobs()).items.filter((job) => job.status === 'running');
    expect(leased.map((job) => job.task)).toEqual(['once']);
    await scheduler.advance('1s');
    // The slot freed: the second takes it, and the jobs behind it, which may be re-run, queue.
    const queued = (await scheduler.getJobs()).items.filter((job) => job.status === 'running');
    expect(queued.map((job) => job.task).sort()).toEqual(['once', 'work', 'work', 'work']);
    await scheduler.advance('10s');
    expect(seen.started).toEqual([-1, -1, 0, 1, 2, 3]);
  });

  it('claims a job that must not run twice as soon as a slot frees, after a refill stopped at it', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3, pollInterval: '1h' });
    const seen = slowTask(1000);
    scheduler.task('once', () => void seen.started.push(-1), { retry: { abandoned: 0 } });
    await addJobs(3);
    await scheduler.addJob('once');
    await scheduler.addJob('work', { args: { n: 3 } });
    await scheduler.start();
    // 0 runs, 1 and 2 queue; the refill claims made as they start stop at the once-only job.
    await scheduler.advance('3500ms');
    expect(seen.started).toEqual([0, 1, 2, -1, 3]);
  });

  it('gives a slot a claimed job left free (missed) to a job that must not run twice, behind it', async () => {
    const scheduler = make({ maxConcurrentJobs: 2, prefetchJobs: 4, pollInterval: '1h' });
    const seen = slowTask(3_600_000);
    scheduler.task('once', () => void seen.started.push(-1), { retry: { abandoned: 0 } });
    await scheduler.addJob('work', { args: { n: 0 }, runAt: new Date(T0 - 10_000), misfireGraceTime: '1s' });
    await scheduler.addJob('work', { args: { n: 1 }, runAt: new Date(T0 - 9_000) });
    await scheduler.addJob('once', { runAt: new Date(T0 - 8_000) });
    await scheduler.start();
    // The claim took 0 (missed when started, its slot free) and 1, and stopped at the once-only job.
    await scheduler.advance('1s');
    expect(seen.started).toEqual([1, -1]);
  });

  it('claims no job beyond the free slots by default', async () => {
    const scheduler = make({ maxConcurrentJobs: 2 });
    slowTask(1000);
    await addJobs(6);
    await scheduler.start();
    await scheduler.advance('10ms');
    expect((await scheduler.getJobs()).items.filter((job) => job.status === 'running')).toHaveLength(2);
  });

  it('hands back the queued jobs on stop: pending again, nothing recorded, and they run after a restart', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 4, shutdownTimeout: '5s' });
    const seen = slowTask(1000);
    await addJobs(5);
    await scheduler.start();
    await scheduler.advance('10ms');
    const stopped = scheduler.stop();
    await scheduler.advance('2s'); // the running job finishes within the shutdown timeout
    await stopped;
    expect(seen.started).toEqual([0]);
    const jobs = (await scheduler.getJobs()).items;
    expect(jobs.map((job) => [job.status, job.acquiredBy, job.attempt])).toEqual(
      Array.from({ length: 4 }, () => ['pending', null, 1]),
    );
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded']);
    await scheduler.start();
    await scheduler.advance('10s');
    expect(seen.started).toEqual([0, 1, 2, 3, 4]);
    expect((await scheduler.history()).map((e) => [e.outcome, e.attempt])).toEqual(
      Array.from({ length: 5 }, () => ['succeeded', 1]),
    );
  });

  it('starts no queued job once stop() began, even when a slot frees up: all are handed back', async () => {
    // settleTimeout: advance() need not wait long for the gated job, which only the test ends.
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3, settleTimeout: '20ms' });
    const started: number[] = [];
    let finishFirst: () => void = () => {};
    scheduler.task('gated', async (_ctx, args: { n: number }) => {
      started.push(args.n);
      if (args.n === 0) await new Promise<void>((resolve) => (finishFirst = resolve));
    });
    for (let n = 0; n < 4; n++) await scheduler.addJob('gated', { args: { n } });
    await scheduler.start();
    await scheduler.advance('10ms');
    expect(started).toEqual([0]);
    const stopped = scheduler.stop();
    finishFirst(); // its slot frees while the scheduler stops
    await stopped;
    expect(started).toEqual([0]);
    const jobs = (await scheduler.getJobs()).items;
    expect(jobs.map((job) => [job.status, job.acquiredBy, job.attempt])).toEqual(
      Array.from({ length: 3 }, () => ['pending', null, 1]),
    );
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded']);
  });

  it('makes no new claim while stop() waits for a fire being written: queued and pending jobs stay unstarted', async () => {
    // On the system clock, paced by gates (no sleeps): the fire is held inside the store while the
    // running job finishes, which frees a slot during stop().
    let openFireGate: () => void = () => {};
    const fireGate = new Promise<void>((resolve) => (openFireGate = resolve));
    let fireGateReached: () => void = () => {};
    const fireHeld = new Promise<void>((resolve) => (fireGateReached = resolve));
    let gateFires = false;
    class SlowFireStore extends MemoryStore {
      override async acquireSchedules(...args: Parameters<MemoryStore['acquireSchedules']>) {
        if (gateFires) {
          fireGateReached();
          await fireGate;
        }
        return super.acquireSchedules(...args);
      }
    }
    const real = new Scheduler({
      store: new SlowFireStore(),
      maxConcurrentJobs: 1,
      prefetchJobs: 2,
      logger: silentLogger,
    });
    const started: number[] = [];
    let finishFirst: () => void = () => {};
    real.task('gated', async (_ctx, args: { n: number }) => {
      started.push(args.n);
      if (args.n === 0) await new Promise<void>((resolve) => (finishFirst = resolve));
    });
    for (let n = 0; n < 4; n++) await real.addJob('gated', { args: { n } }); // 0 runs, 1-2 queued, 3 pending
    await real.start();
    await until(() => started.length === 1, 'job 0 starts', 5000, 5);
    gateFires = true;
    await real.addSchedule('gated', date(new Date(Date.now() - 1)), { args: { n: 99 } });
    await fireHeld;
    const stopped = real.stop();
    finishFirst();
    // Job 0 recorded: its slot was freed, and the job loop woken, before that.
    await until(
      async () => (await real.getExecutions()).items.length === 1,
      'only job 0 is recorded (a second record means a job started during stop)',
      5000,
      5,
    );
    openFireGate();
    await stopped;
    // The fire in flight completes, and starts its own job; nothing else starts.
    expect(started.filter((n) => n !== 99)).toEqual([0]);
    const jobs = (await real.getJobs()).items.filter((job) => (job.args as { n: number }).n < 99);
    expect(jobs.map((job) => [job.status, job.acquiredBy])).toEqual(Array.from({ length: 3 }, () => ['pending', null]));
  });

  it('records a queued job that is cancelled as cancelled, never runs it, and runs the others', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3 });
    const seen = slowTask(1000);
    const ids = await addJobs(4);
    await scheduler.start();
    await scheduler.advance('10ms');
    expect(await scheduler.cancelJob(ids[2] as string)).toBe('requested');
    await scheduler.advance('10s');
    expect(seen.started).toEqual([0, 1, 3]);
    const cancelled = (await scheduler.history()).find((e) => e.jobId === ids[2]);
    expect(cancelled).toMatchObject({ outcome: 'cancelled', startedAt: null });
  });

  it('keeps the leases of queued jobs while they wait longer than a lease', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3, leaseDuration: '1s' });
    const seen = slowTask(3000);
    await addJobs(4);
    await scheduler.start();
    await scheduler.advance('20s');
    expect(seen.started).toEqual([0, 1, 2, 3]);
    expect((await scheduler.history()).map((e) => [e.outcome, e.attempt])).toEqual(
      Array.from({ length: 4 }, () => ['succeeded', 1]),
    );
  });

  it('records a queued job whose start deadline passes while it waits as missed', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3 });
    const seen = slowTask(2 * 60_000);
    await addJobs(2, { misfireGraceTime: '1m' });
    await scheduler.start();
    await scheduler.advance('10ms');
    expect((await scheduler.getJobs()).items.every((job) => job.status === 'running')).toBe(true);
    await scheduler.advance('5m');
    expect(seen.started).toEqual([0]);
    const outcomes = (await scheduler.history()).map((e) => [(e.args as { n: number }).n, e.outcome]);
    expect(outcomes.sort()).toEqual([
      [0, 'succeeded'],
      [1, 'missed'],
    ]);
  });

  it('rejects a prefetchJobs that is not a whole number of 0 or more, naming it', () => {
    for (const value of [-1, 1.5, '10', Number.NaN]) {
      expect(() => createTestScheduler({ now: T0, prefetchJobs: value as number })).toThrow(ValidationError);
      expect(() => createTestScheduler({ now: T0, prefetchJobs: value as number })).toThrow(/prefetchJobs/);
    }
  });
});
