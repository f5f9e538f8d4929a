import { afterEach, describe, expect, it } from 'vitest';
import { JobFailedError, TaskNotFoundError, ValidationError } from '../../src/errors.ts';
import type { DataStore } from '../../src/stores/data-store.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { interval } from '../../src/triggers/index.ts';
import { parseRetryPolicy } from '../../src/scheduler/retry-policy.ts';
import { jobFixture } from '../stores/conformance/harness.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

describe('one-off jobs', () => {
  let scheduler: TestScheduler;
  afterEach(async () => {
    await scheduler?.stop();
  });

  function make(): TestScheduler {
    scheduler = createTestScheduler({ now: T0 });
    return scheduler;
  }

  it('runs a job now, at a time, or after a delay, passing its arguments', async () => {
    make();
    const seen: string[] = [];
    scheduler.task('echo', (ctx, args: { word: string }) => {
      seen.push(`${args.word}@${ctx.runAt.getTime() - T0}`);
      return args.word.toUpperCase();
    });
    await scheduler.start();
    await scheduler.addJob('echo', { args: { word: 'later' }, delay: '1h' });
    await scheduler.addJob('echo', { args: { word: 'at' }, runAt: new Date(T0 + 60_000) });
    await scheduler.addJob('echo', { args: { word: 'now' } });
    await scheduler.advance('2h');
    expect(seen).toEqual(['now@0', 'at@60000', 'later@3600000']);
    expect((await scheduler.history()).map((e) => e.result)).toEqual(['NOW', 'AT', 'LATER']);
  });

  it('runJob resolves with the result, or rejects with JobFailedError', async () => {
    make();
    scheduler.task('add', (_ctx, args: { a: number; b: number }) => args.a + args.b);
    scheduler.task('fail', () => {
      throw new Error('no luck');
    });
    await scheduler.start();
    const sum = scheduler.runJob<number>('add', { args: { a: 2, b: 3 } });
    await scheduler.runDue();
    await expect(sum).resolves.toBe(5);
    const failing = scheduler.runJob('fail').catch((error: unknown) => error);
    await scheduler.runDue();
    const error = await failing;
    expect(error).toBeInstanceOf(JobFailedError);
    expect(error).toMatchObject({
      outcome: 'failed',
      message: expect.stringMatching(/failed: no luck/),
    });
  });

  it('keeps the history as the run ended when the caller later changes the result runJob gave it', async () => {
    make();
    scheduler.task('report', () => ({ rows: [1, 2] }));
    await scheduler.start();
    const report = scheduler.runJob<{ rows: number[] }>('report');
    await scheduler.runDue();
    const result = await report;
    result.rows.push(3);
    expect((await scheduler.history())[0]?.result).toEqual({ rows: [1, 2] });
  });

  it('retries failed runs with exponential back-off, then gives up', async () => {
    make();
    scheduler.task(
      'flaky',
      () => {
        throw new Error('down');
      },
      { retry: { attempts: 3, backoff: { initial: '10s', factor: 3, jitter: 0 } } },
    );
    await scheduler.start();
    await scheduler.addJob('flaky');
    await scheduler.advance('5m');
    const history = await scheduler.history();
    expect(history.map((e) => [e.attempt, e.outcome, (e.startedAt?.getTime() ?? 0) - T0])).toEqual([
      [1, 'failed', 0],
      [2, 'failed', 10_000],
      [3, 'failed', 40_000],
    ]);
    expect(history[0]?.error).toMatchObject({ name: 'Error', message: 'down' });
    expect(history[0]?.error?.stack).toContain('down');
    expect((await scheduler.getJobs()).items).toEqual([]);
  });

  it('retries a scheduled run that failed after running longer than its misfire grace time', async () => {
    make();
    scheduler.task(
      'slow-then-fail',
      async (ctx) => {
        await ctx.sleep('2m');
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} failed`);
        return 'done';
      },
      { retry: { attempts: 3, backoff: '5s' } },
    );
    await scheduler.addSchedule('slow-then-fail', interval({ hours: 1 }), { id: 'hourly', misfireGraceTime: '1m' });
    await scheduler.start();
    await scheduler.advance('10m');
    expect((await scheduler.history()).map((e) => [e.attempt, e.outcome, (e.startedAt?.getTime() ?? 0) - T0])).toEqual([
      [1, 'failed', 0],
      [2, 'failed', 125_000],
      [3, 'succeeded', 250_000],
    ]);
  });

  it('does not keep waiting in its queue a job that must not run twice (made where its options were unknown)', async () => {
    const store = new MemoryStore();
    scheduler = createTestScheduler({ now: T0, store, maxConcurrentJobs: 1, prefetchJobs: 5 });
    scheduler.task('once', (ctx) => ctx.sleep('1m'), { retry: { abandoned: 0 } });
    // Made by a node that does not know the task's options: the default budget.
    for (let n = 0; n < 3; n++) await store.addJob(jobFixture({ task: 'once', abandonRetries: 2 }));
    await scheduler.start();
    await scheduler.runDue();
    const jobs = (await scheduler.getJobs()).items;
    expect(jobs.filter((job) => job.status === 'running')).toHaveLength(1);
    expect(jobs.filter((job) => job.status === 'pending').map((job) => job.abandonRetries)).toEqual([0, 0]);
    await scheduler.advance('3m');
    expect((await scheduler.history()).map((run) => run.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  });

  it('settles a runJob made as the store opens when the scheduler stops meanwhile', async () => {
    make();
    scheduler.task('t', () => 'done');
    const waiting = scheduler.runJob('t').catch((error: unknown) => error);
    await scheduler.stop();
    expect(await waiting).toMatchObject({ name: 'SchedulerStateError', message: expect.stringMatching(/stopped/) });
  });

  it('records cancelled, not missed, a job whose cancel was asked for and whose start deadline passed', async () => {
    const store = new MemoryStore();
    scheduler = createTestScheduler({ now: T0, store });
    scheduler.task('t', () => {});
    await scheduler.ready();
    const job = jobFixture({ task: 't', startDeadline: new Date(T0 + 1_000) });
    await store.addJob(job);
    // Another node claimed it, was asked to cancel it, and handed it back as it stopped.
    const [claimed] = (await store.acquireJobs('other', { leaseMs: 30_000, limit: 1, tasks: scheduler.getTasks() }))
      .jobs;
    await store.requestCancel(job.id, 'web');
    await store.releaseJob('other', job.id, {
      execution: null,
      attempt: 1,
      startedAt: claimed?.startedAt ?? null,
      requeue: { runAt: new Date(T0), startDeadline: job.startDeadline, attempt: 1, abandonRetries: 2, failedRuns: 0 },
    });
    await scheduler.advance('1m');
    await scheduler.start();
    await scheduler.runDue();
    expect((await scheduler.history({ jobId: job.id })).map((run) => run.outcome)).toEqual(['cancelled']);
  });

  it('counts only failed runs against retry.attempts, not a run handed over on shutdown', async () => {
    scheduler = createTestScheduler({ now: T0, shutdownTimeout: '1s' });
    const retry = { attempts: 2, backoff: '1s' };
    scheduler.task('sync', (ctx) => ctx.sleep('1h'), { retry });
    await scheduler.start();
    const id = await scheduler.addJob('sync');
    await scheduler.runDue();
    await scheduler.stop(); // a rolling deploy: the run is aborted and handed over
    scheduler.task(
      'sync',
      () => {
        throw new Error('upstream down');
      },
      { retry },
    );
    await scheduler.start();
    await scheduler.advance('1m');
    const runs = await scheduler.history({ jobId: id });
    expect(runs.map((run) => `${run.outcome}#${run.attempt}`)).toEqual(['abandoned#1', 'failed#2', 'failed#3']);
  });

  it('succeeds on a retry and reports the attempt to the task', async () => {
    make();
    scheduler.task(
      'second-time-lucky',
      (ctx) => {
        if (ctx.attempt === 1) throw new Error('first');
        return ctx.attempt;
      },
      { retry: { attempts: 2, backoff: '1s' } },
    );
    await scheduler.start();
    const result = scheduler.runJob('second-time-lucky');
    await scheduler.advance('1s');
    await expect(result).resolves.toBe(2);
  });

  it('times out a task that never settles, aborting its signal, and keeps running others', async () => {
    // The hanging task is given up on by the test clock after 50 ms of real time; it never settles anyway.
    scheduler = createTestScheduler({ now: T0, settleTimeout: '50ms' });
    let aborted: unknown = null;
    scheduler.task(
      'hang',
      (ctx) =>
        new Promise(() => {
          ctx.signal.addEventListener('abort', () => {
            aborted = ctx.signal.reason;
          });
        }),
      { timeout: '10s' },
    );
    scheduler.task('quick', () => 'done');
    await scheduler.start();
    await scheduler.addJob('hang');
    await scheduler.addJob('quick', { delay: '5s' });
    await scheduler.advance('15s');
    const history = await scheduler.history();
    expect(history.map((e) => [e.task, e.outcome, (e.finishedAt.getTime() - T0) / 1000])).toEqual([
      ['quick', 'succeeded', 5],
      ['hang', 'timed_out', 10],
    ]);
    expect(aborted).toMatchObject({ kind: 'timeout' });
  });

  it('cancels a pending job and a running one', async () => {
    make();
    scheduler.task('wait', (ctx) => ctx.sleep('1h'));
    await scheduler.start();
    const pending = await scheduler.addJob('wait', { delay: '1m' });
    const running = await scheduler.addJob('wait');
    await scheduler.runDue();
    expect(await scheduler.cancelJob(pending)).toBe('cancelled');
    expect(await scheduler.cancelJob(running)).toBe('requested');
    await scheduler.runDue();
    expect(await scheduler.cancelJob('no-such-job')).toBe('not_found');
    const history = await scheduler.history();
    expect(history.map((e) => [e.jobId, e.outcome, e.startedAt === null])).toEqual([
      [pending, 'cancelled', true],
      [running, 'cancelled', false],
    ]);
    expect((await scheduler.getJobs()).items).toEqual([]);
  });

  it('applies calls made before the store is open in the order they were made', async () => {
    make();
    scheduler.task('wait', () => {});
    // Not awaited one by one: the first opens the store, and the others must not overtake it.
    const added = scheduler.addJob('wait', { id: 'later', delay: '1h' });
    const cancelled = scheduler.cancelJob('later');
    const scheduled = scheduler.addSchedule('wait', '0 3 * * *', { id: 'nightly' });
    const paused = scheduler.pauseSchedule('nightly');
    expect(await added).toBe('later');
    expect(await cancelled).toBe('cancelled');
    expect(await scheduled).toBe('nightly');
    expect((await paused).paused).toBe(true);
  });

  for (const waitingFor of ['the store to open', "the store's clock to be read again"]) {
    it(`lets no call overtake those waiting for ${waitingFor}, however close to the end of the wait it is made`, async () => {
      const store = new MemoryStore();
      const reached: string[] = [];
      const addJob = store.addJob.bind(store);
      store.addJob = (job, tx) => {
        reached.push(job.id);
        return addJob(job, tx);
      };
      scheduler = createTestScheduler({ now: T0, store });
      scheduler.task('wait', () => {});
      let clockReads = 0;
      if (waitingFor !== 'the store to open') {
        // A store with a clock of its own, read a while ago by a scheduler that claims nothing.
        const clock = scheduler.clock;
        (store as DataStore).now = () => {
          clockReads++;
          return Promise.resolve(new Date(clock.now()));
        };
        await scheduler.ready();
        await scheduler.advance('2m');
      }
      let firstDone = false;
      const first = scheduler.addJob('wait', { id: 'first', delay: '1h' }).then(() => (firstDone = true));
      const made = ['first'];
      // One call per microtask until the first is in: one of them lands in whatever gap there is
      // between the store's opening and the first call going on.
      for (let i = 0; !firstDone && i < 1000; i++) {
        made.push(`next-${i}`);
        void scheduler.addJob('wait', { id: `next-${i}`, delay: '1h' });
        await Promise.resolve();
      }
      await first;
      await new Promise((resolve) => setImmediate(resolve)); // the calls still on their way
      expect(made.length).toBeGreaterThan(1);
      expect(reached).toEqual(made);
      expect(clockReads).toBe(waitingFor === 'the store to open' ? 0 : 2);
    });
  }

  it('caps running jobs of a task (maxRunningJobs) and of the node (maxConcurrentJobs)', async () => {
    scheduler = createTestScheduler({ now: T0, maxConcurrentJobs: 3 });
    const running = { all: 0, capped: 0 };
    const peak = { all: 0, capped: 0 };
    const track = async (ctx: { sleep(d: string): Promise<void> }, capped: boolean) => {
      running.all++;
      if (capped) running.capped++;
      peak.all = Math.max(peak.all, running.all);
      peak.capped = Math.max(peak.capped, running.capped);
      await ctx.sleep('1s');
      running.all--;
      if (capped) running.capped--;
    };
    scheduler.task('capped', (ctx) => track(ctx, true), { maxRunningJobs: 2 });
    scheduler.task('free', (ctx) => track(ctx, false));
    await scheduler.start();
    for (let i = 0; i < 6; i++) await scheduler.addJob('capped');
    for (let i = 0; i < 6; i++) await scheduler.addJob('free');
    await scheduler.advance('1m');
    expect((await scheduler.history()).filter((e) => e.outcome === 'succeeded')).toHaveLength(12);
    expect(peak).toEqual({ all: 3, capped: 2 });
  });

  it('claims twice per job of a slow trickle: to take it, and once when its slot has been free a moment', async () => {
    const store = new MemoryStore();
    let claims = 0;
    const acquire = store.acquireJobs.bind(store);
    store.acquireJobs = (...args) => {
      claims++;
      return acquire(...args);
    };
    scheduler = createTestScheduler({ now: T0, store });
    scheduler.task('noop', () => {});
    await scheduler.start();
    await scheduler.advance('1s');
    claims = 0;
    for (let i = 0; i < 10; i++) {
      await scheduler.addJob('noop');
      await scheduler.advance('1s');
    }
    expect(await scheduler.history()).toHaveLength(10);
    // The claim that takes it got fewer jobs than it had slots for: nothing else was due, so its
    // freed slot is looked at only once, a moment later, and its record (not capped) brings none.
    // (Before: three claims per job.)
    expect(claims).toBe(20);
  });

  it('looks again a moment after a claim that came back short, as when another node briefly locked a due job', async () => {
    const store = new MemoryStore();
    let skipOne = true;
    const acquire = store.acquireJobs.bind(store);
    store.acquireJobs = (node, options) => {
      // The first claim skips one due job, as PostgreSQL skips a row another node's claim has locked.
      if (skipOne) {
        skipOne = false;
        return acquire(node, { ...options, limit: 1, startNow: 1 });
      }
      return acquire(node, options);
    };
    scheduler = createTestScheduler({ now: T0, store, pollInterval: '1h' });
    const started: number[] = [];
    scheduler.task('work', async (ctx) => {
      started.push(scheduler.clock.now() - T0);
      await ctx.sleep('1h');
    });
    await scheduler.addJob('work');
    await scheduler.addJob('work');
    await scheduler.start();
    await scheduler.advance('1s');
    expect(started).toEqual([0, 200]);
  });

  it('starts a job added while every slot was taken as soon as one frees, even after a claim that took every due job', async () => {
    scheduler = createTestScheduler({ now: T0, maxConcurrentJobs: 1, pollInterval: '1h' });
    const started: Array<[string, number]> = [];
    scheduler.task('fired', async (ctx) => {
      started.push(['fired', scheduler.clock.now() - T0]);
      await ctx.sleep('500ms');
    });
    scheduler.task('added', () => void started.push(['added', scheduler.clock.now() - T0]));
    await scheduler.start();
    await scheduler.advance('100ms'); // the job loop's claim found nothing (it took every due job)
    await scheduler.addSchedule('fired', interval({ hours: 1 }), { id: 'hourly' });
    await scheduler.advance('1h'); // fired on the slot
    await scheduler.addJob('added'); // a pass finds the slot taken
    await scheduler.advance('1s');
    expect(started).toEqual([
      ['fired', 3_600_000],
      ['added', 3_600_500],
    ]);
  });

  it('records a job that starts after its misfire grace time as missed', async () => {
    scheduler = createTestScheduler({ now: T0, maxConcurrentJobs: 1 });
    scheduler.task('block', (ctx) => ctx.sleep('2m'));
    scheduler.task('tick', () => {});
    await scheduler.start();
    await scheduler.addJob('block');
    await scheduler.runDue();
    await scheduler.addJob('tick', { misfireGraceTime: '1m' });
    await scheduler.advance('3m');
    expect((await scheduler.history()).map((e) => [e.task, e.outcome])).toEqual([
      ['block', 'succeeded'],
      ['tick', 'missed'],
    ]);
  });

  it('validates job input', async () => {
    make();
    scheduler.task('t', () => {});
    await expect(scheduler.addJob('unknown')).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(scheduler.addJob('t', { runAt: 'yesterday-ish' })).rejects.toThrow(/runAt/);
    await expect(scheduler.addJob('t', { args: { f: () => 1 } })).rejects.toThrow(/args\.f/);
    await expect(scheduler.addJob('t', { args: { n: Number.NaN } })).rejects.toThrow(ValidationError);
    await expect(scheduler.addJob('t', { delay: -5 })).rejects.toThrow(/delay/);
    await expect(scheduler.addJob('t', { tx: {} })).rejects.toThrow(/tx.*MemoryStore/);
  });

  it('names a wrong query, options object, job id or event type in a ValidationError', async () => {
    make();
    scheduler.task('t', () => {});
    const wrong: Array<[string, () => unknown]> = [
      ['job query', () => scheduler.getJobs(null as never)],
      ['schedule query', () => scheduler.getSchedules(null as never)],
      ['execution query', () => scheduler.getExecutions([] as never)],
      ['schedule options', () => scheduler.addSchedule('t', interval({ seconds: 1 }), null as never)],
      ['job id', () => scheduler.getJob(123 as never)],
      ['job id', () => scheduler.cancelJob({} as never)],
      ['job id', () => scheduler.addJob('t', { id: 'a\u0000b' })],
      ['event type', () => scheduler.on('job.exploded' as never, () => {})],
      // Field by field, the same on every store (a database would refuse some in its own words).
      ['job query ids', () => scheduler.getJobs({ ids: 'abc' as never })],
      ['job query ids[1]', () => scheduler.getJobs({ ids: ['a', 7 as never] })],
      ['job query status', () => scheduler.getJobs({ status: 'done' as never })],
      ['job query task', () => scheduler.getJobs({ task: 'a\u0000' })],
      ['job query field: "state"', () => scheduler.getJobs({ state: 'running' } as never)],
      ['schedule query paused', () => scheduler.getSchedules({ paused: 'yes' as never })],
      ['execution query from', () => scheduler.getExecutions({ from: '2024-01-01' as never })],
      ['execution query to', () => scheduler.getExecutions({ to: new Date('nope') })],
      ['execution query outcome', () => scheduler.getExecutions({ outcome: 'ok' as never })],
      ['execution query outcome[1]', () => scheduler.getExecutions({ outcome: ['failed', 'ok' as never] })],
    ];
    for (const [name, call] of wrong) {
      const error = await (async () => call())().then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error, name).toBeInstanceOf(ValidationError);
      expect(String(error), name).toContain(name);
    }
    expect(await scheduler.getJob('no-such-job')).toBeNull();
    expect(typeof scheduler.on('job.added', () => {})).toBe('function');
    const everyField = {
      outcome: ['failed' as const],
      from: new Date(T0),
      to: new Date(T0 + 1),
      task: 't',
      jobId: 'j',
      scheduleId: 's',
      limit: 5,
      cursor: undefined,
    };
    expect((await scheduler.getExecutions(everyField)).items).toEqual([]);
    expect((await scheduler.getJobs({ ids: [], status: 'running', task: 't', scheduleId: 's' })).items).toEqual([]);
  });

  it('refuses times and durations that would leave the dates JavaScript can hold, and keeps running the others', async () => {
    make();
    const ran: string[] = [];
    scheduler.task('t', (_ctx, name: string) => void ran.push(name));
    const refused = [
      scheduler.addJob('t', { args: 'delay', delay: 9e15 }),
      scheduler.addJob('t', { args: 'delay string', delay: '200 weeks 99999 days 999999 weeks' }),
      scheduler.addJob('t', { args: 'runAt', runAt: new Date(8.64e15) }),
      scheduler.addJob('t', { args: 'grace', misfireGraceTime: 1e300 }),
      scheduler.addSchedule('t', interval({ seconds: 1 }), { args: 'jitter', maxJitter: 1e300 }),
    ];
    for (const [index, adding] of refused.entries()) {
      await expect(adding, `case ${index}`).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(scheduler.addJob('t', { delay: 9e15 })).rejects.toThrow(/delay.*at most 100 years/);
    await expect(scheduler.addJob('t', { runAt: new Date(8.64e15) })).rejects.toThrow(/runAt.*years 1 to 9999/);
    await expect(scheduler.addJob('t', { runAt: new Date('0000-12-31T23:59:59.999Z') })).rejects.toThrow(
      /runAt.*years 1 to 9999/,
    );
    await scheduler.addJob('t', {
      args: 'latest',
      runAt: new Date('9999-12-31T00:00:00.000Z'),
      misfireGraceTime: '36500d',
    });
    for (let n = 0; n < 3; n++) await scheduler.addJob('t', { args: `due${n}` });
    await scheduler.start();
    await scheduler.advance('1s');
    expect(ran).toEqual(['due0', 'due1', 'due2']);
  });

  it('computes a back-off of 0, or one grown past any number, as a time a store can keep', () => {
    const policy = (initial: number | string) =>
      parseRetryPolicy('retry', { attempts: 10, backoff: { initial, factor: 1e300, max: '1m', jitter: 0 } });
    // 0 * 1e300 ** 2 is 0 * Infinity: NaN, an Invalid Date that SQL stores refuse (the run then
    // could not be recorded and its job stayed running).
    expect([1, 2, 3, 9].map((failed) => policy(0).delayAfter(failed, () => 0))).toEqual([0, 0, 0, 0]);
    expect([1, 2, 3, 9].map((failed) => policy('1s').delayAfter(failed, () => 0))).toEqual([
      1000, 60_000, 60_000, 60_000,
    ]);
  });
});
