import { afterEach, describe, expect, it } from 'vitest';
import {
  ConflictError,
  ScheduleNotFoundError,
  TaskNotFoundError,
  TriggerError,
  ValidationError,
} from '../../src/errors.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { cron, date, interval } from '../../src/triggers/index.ts';
import { silentLogger } from '../../src/common/logger.ts';

const T0 = '2030-01-07T00:00:00.000Z'; // a Monday

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A promise and the function that resolves it. */
function opening(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

/**
 * A SQL store's timing for one claim: the job loop's claim number `gatedClaim` is in flight when the
 * schedule loop fires, and answers only when the test opens `gate`.
 */
class SlowClaimStore extends MemoryStore {
  readonly gate = opening();
  private readonly claimSent = opening();
  private readonly gatedClaim: number;
  private claims = 0;
  /** How many jobs each claim got. */
  readonly claimed: number[] = [];
  /** The jobs each release of fired schedules leased to the firing node, to start them itself. */
  readonly startedByFire: string[][] = [];

  constructor(gatedClaim = 1) {
    super();
    this.gatedClaim = gatedClaim;
  }

  override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
    if (++this.claims === this.gatedClaim) {
      this.claimSent.resolve();
      await this.gate.promise;
    }
    const acquired = await super.acquireJobs(...args);
    this.claimed.push(acquired.jobs.length);
    return acquired;
  }

  override async acquireSchedules(...args: Parameters<MemoryStore['acquireSchedules']>) {
    await this.claimSent.promise;
    return super.acquireSchedules(...args);
  }

  override async releaseSchedules(...args: Parameters<MemoryStore['releaseSchedules']>) {
    this.startedByFire.push([...(args[2]?.jobIds ?? [])]);
    return super.releaseSchedules(...args);
  }
}

describe('schedules on the test scheduler', () => {
  let scheduler: TestScheduler;
  let store: SlowClaimStore | undefined;
  afterEach(async () => {
    store?.gate.resolve(); // a test that failed before opening it must not hang the stop
    store = undefined;
    await scheduler?.stop();
  });

  /** Schedule 'minute' (of 'tick') is due and fired while the job loop's first claim, holding both slots, is in flight. */
  async function fireDuringClaim(): Promise<SlowClaimStore> {
    const slow = new SlowClaimStore();
    store = slow;
    scheduler = createTestScheduler({ now: T0, store, maxConcurrentJobs: 2 });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', cron('* * * * *'), { id: 'minute' });
    await scheduler.advance('1m'); // T0 + 1 min: due
    await scheduler.start();
    await nextTurn(); // the fire has its job ready, and waits or not
    await nextTurn();
    return slow;
  }

  it('says so when a changed trigger leaves it nothing after its last fire time, and it finishes', async () => {
    const warnings: Array<{ fields: object; message: string }> = [];
    const logger = {
      ...silentLogger,
      warn: (fields: object, message?: string) => void warnings.push({ fields, message: message ?? '' }),
    };
    scheduler = createTestScheduler({ now: T0, logger });
    scheduler.task('tick', () => 'ok');
    await scheduler.addSchedule('tick', interval({ minutes: 10 }), { id: 'every-10' });
    await scheduler.start();
    await scheduler.advance('10m'); // fired at T0 and T0 + 10 min
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded', 'succeeded']);
    // Its only fire time now is before the last one fired.
    await scheduler.updateSchedule('every-10', { trigger: date(new Date(Date.parse(T0) + 5 * 60_000)) });
    await scheduler.advance('1m');
    expect((await scheduler.getSchedule('every-10'))?.nextFireTime).toBeNull();
    expect(warnings).toEqual([
      {
        fields: {
          scheduleId: 'every-10',
          fireTime: new Date(Date.parse(T0) + 5 * 60_000),
          lastFireTime: new Date(Date.parse(T0) + 10 * 60_000),
        },
        message:
          'schedule finished without firing again: its trigger has no fire time after the last one fired (a trigger changed to one that fires only earlier?)',
      },
    ]);
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded', 'succeeded']);
  });

  function make(now = T0): TestScheduler {
    scheduler = createTestScheduler({ now });
    scheduler.task('tick', () => 'ok');
    return scheduler;
  }

  it('starts fired jobs on the firing node without overfilling it: maxConcurrentJobs holds with both loops starting jobs', async () => {
    scheduler = createTestScheduler({ now: T0, maxConcurrentJobs: 3 });
    const running = { now: 0, peak: 0 };
    scheduler.task('slow', async (ctx) => {
      running.now++;
      running.peak = Math.max(running.peak, running.now);
      await ctx.sleep('10s');
      running.now--;
    });
    for (let i = 0; i < 5; i++) await scheduler.addSchedule('slow', interval({ minutes: 1 }), { id: `s${i}` });
    for (let i = 0; i < 4; i++) await scheduler.addJob('slow');
    await scheduler.start();
    await scheduler.advance('30s');
    // 9 jobs, 3 at a time, 10 s each: all done within 30 s, never more than 3 at once.
    expect((await scheduler.history()).filter((e) => e.outcome === 'succeeded')).toHaveLength(9);
    expect(running.peak).toBe(3);
  });

  it('starts a fired job itself while a claim in flight holds the free slots: it waits for the claim, not a second claim', async () => {
    const claims = await fireDuringClaim();
    // The claim holding both slots answers now, with nothing.
    claims.gate.resolve();
    await scheduler.runDue();
    const [job] = await scheduler.history();
    expect(job).toMatchObject({ scheduleId: 'minute', outcome: 'succeeded' });
    // Leased to this node in the fire's own transaction: no claim had to find it in the store.
    expect(claims.startedByFire).toEqual([[job?.jobId]]);
    expect(claims.claimed[0]).toBe(0);
  });

  it('does not wait for a claim that only fills the local queue: it gives back no slot', async () => {
    store = new SlowClaimStore(2);
    scheduler = createTestScheduler({ now: T0, store, maxConcurrentJobs: 1, prefetchJobs: 5 });
    scheduler.task('long', (ctx) => ctx.sleep('10s'));
    scheduler.task('tick', () => {});
    await scheduler.addJob('long');
    await scheduler.addSchedule('tick', cron('* * * * *'), { id: 'minute' });
    await scheduler.advance('1m');
    await scheduler.start(); // the first claim takes the only slot, with 'long'
    await nextTurn();
    await scheduler.addJob('long'); // wakes the job loop: a claim for the queue, in flight
    await nextTurn();
    await nextTurn();
    // Written at once, its job pending (this node's only slot is taken), not after 50 ms.
    expect(store.startedByFire).toEqual([[]]);
    store.gate.resolve();
    await scheduler.advance('21s');
    expect((await scheduler.history()).map((e) => [e.task, e.outcome]).sort()).toEqual([
      ['long', 'succeeded'],
      ['long', 'succeeded'],
      ['tick', 'succeeded'],
    ]);
  });

  it('leaves the jobs of a fire that waited for a claim to the store when the node began stopping meanwhile', async () => {
    const claims = await fireDuringClaim();
    const stopped = scheduler.stop();
    await nextTurn();
    claims.gate.resolve();
    await stopped;
    expect(claims.startedByFire).toEqual([[]]);
    expect((await scheduler.getJobs()).items).toMatchObject([{ scheduleId: 'minute', status: 'pending' }]);
    expect(await scheduler.history()).toEqual([]);
  });

  it('does not wait long for a slow claim: after 50 ms the fire is written, its job left in the store for any node', async () => {
    const claims = await fireDuringClaim();
    expect(claims.startedByFire).toEqual([]); // waiting for the claim
    scheduler.clock.advanceTo(scheduler.clock.now() + 50);
    await nextTurn();
    await nextTurn();
    expect(claims.startedByFire).toEqual([[]]);
    expect((await scheduler.getJobs()).items).toMatchObject([{ scheduleId: 'minute', status: 'pending' }]);
    claims.gate.resolve();
    await scheduler.runDue();
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded']);
    expect(claims.claimed[0]).toBe(1);
  });

  it('fires ahead (fireAhead): the job is written before its fire time and starts exactly at it', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    const started: number[] = [];
    scheduler.task('tick', () => {
      started.push(scheduler.clock.now());
    });
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('950ms');
    // 50 ms before the fire at T0 + 1 s its job is written and leased to this node, which holds it
    // for its run time; the schedule has moved on.
    const [waiting] = (await scheduler.getJobs()).items;
    expect(waiting).toMatchObject({
      status: 'running',
      acquiredBy: scheduler.nodeId,
      fireTime: new Date(Date.parse(T0) + 1000),
      startedAt: new Date(Date.parse(T0) + 1000),
    });
    expect(started).toHaveLength(1);
    expect((await scheduler.getSchedule('second'))?.nextFireTime).toEqual(new Date(Date.parse(T0) + 2000));
    await scheduler.advance('3100ms');
    const history = await scheduler.history();
    expect(history.map((e) => e.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(history.map((e) => (e.startedAt as Date).getTime() - (e.fireTime as Date).getTime())).toEqual([
      0, 0, 0, 0, 0,
    ]);
    expect(started.map((at) => at - Date.parse(T0))).toEqual([0, 1000, 2000, 3000, 4000]);
  });

  it('fires ahead a task that must not run twice (retry.abandoned 0) but leaves its job in the store, not held', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    const started: number[] = [];
    scheduler.task('once', () => void started.push(scheduler.clock.now()), { retry: { abandoned: 0 } });
    await scheduler.addSchedule('once', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('950ms');
    // Held here, it would be recorded abandoned (and dropped unrun) should this node die first.
    const [waiting] = (await scheduler.getJobs()).items;
    expect(waiting).toMatchObject({ status: 'pending', acquiredBy: null, fireTime: new Date(Date.parse(T0) + 1000) });
    await scheduler.advance('2100ms');
    expect(started.map((at) => at - Date.parse(T0))).toEqual([0, 1000, 2000, 3000]);
  });

  it('records a job held for its run time as cancelled when cancelled, and never runs it', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    let runs = 0;
    scheduler.task('tick', () => {
      runs++;
    });
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('950ms');
    const [held] = (await scheduler.getJobs()).items;
    await scheduler.cancelJob(held?.id as string);
    await scheduler.advance('100ms');
    expect(runs).toBe(1); // the fire at T0 only
    const outcomes = (await scheduler.history()).map((e) => [e.fireTime?.getTime(), e.outcome]);
    expect(outcomes).toContainEqual([Date.parse(T0) + 1000, 'cancelled']);
  });

  it('hands back a job held for its run time on stop: nothing recorded, and it runs on time after a restart', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('950ms');
    await scheduler.stop();
    const [handedBack] = (await scheduler.getJobs()).items;
    expect(handedBack).toMatchObject({ status: 'pending', acquiredBy: null, attempt: 1 });
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['succeeded']); // the fire at T0
    await scheduler.start();
    await scheduler.advance('100ms');
    const second = (await scheduler.history()).find((e) => e.jobId === handedBack?.id);
    expect(second).toMatchObject({ outcome: 'succeeded', attempt: 1, startedAt: new Date(Date.parse(T0) + 1000) });
  });

  it('never fires a fire time twice when a trigger set anew re-arms one already fired ahead', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('950ms'); // the fire at T0 + 1 s is made and held
    // The same trigger, set again: its first fire time from now is T0 + 1 s, already fired.
    const updated = await scheduler.updateSchedule('second', { trigger: interval({ seconds: 1 }) });
    expect(updated.nextFireTime).toEqual(new Date(Date.parse(T0) + 1000));
    await scheduler.advance('2100ms');
    const fires = (await scheduler.history()).map((e) => (e.fireTime as Date).getTime() - Date.parse(T0));
    expect(fires).toEqual([0, 1000, 2000, 3000]);
  });

  it('does not fire ahead a schedule whose job still runs: max instances is judged at the fire time', async () => {
    scheduler = createTestScheduler({ now: T0, fireAhead: '100ms' });
    scheduler.task('long', (ctx) => ctx.sleep('950ms'));
    await scheduler.addSchedule('long', interval({ seconds: 1 }), { id: 'second' });
    await scheduler.start();
    await scheduler.advance('3500ms');
    const history = await scheduler.history();
    // Each run ends 50 ms before the next fire: none is skipped, though each was busy 100 ms before.
    expect(history.map((e) => e.outcome)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(history.map((e) => (e.startedAt as Date).getTime() - (e.fireTime as Date).getTime())).toEqual([0, 0, 0]);
  });

  it('rejects a fireAhead longer than half the lease', () => {
    expect(() => createTestScheduler({ now: T0, leaseDuration: '1s', fireAhead: '600ms' })).toThrow(/fireAhead/);
    expect(() => createTestScheduler({ now: T0, fireAhead: -1 })).toThrow(ValidationError);
  });

  it('runs an interval schedule at exact fire times, in order', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 'every-minute' });
    await scheduler.start();
    await scheduler.advance('5m');
    const history = await scheduler.history();
    expect(history.map((e) => e.fireTime?.toISOString())).toEqual([
      '2030-01-07T00:00:00.000Z',
      '2030-01-07T00:01:00.000Z',
      '2030-01-07T00:02:00.000Z',
      '2030-01-07T00:03:00.000Z',
      '2030-01-07T00:04:00.000Z',
      '2030-01-07T00:05:00.000Z',
    ]);
    expect(
      history.every((e) => e.outcome === 'succeeded' && e.result === 'ok' && e.scheduleId === 'every-minute'),
    ).toBe(true);
    expect(history.every((e) => e.startedAt?.getTime() === e.fireTime?.getTime())).toBe(true);
  });

  it('runs a cron schedule in its own time zone across days', async () => {
    make();
    await scheduler.addSchedule('tick', cron('0 9 * * mon-fri', { timezone: 'Europe/Berlin' }), {
      id: 'weekday-9',
    });
    await scheduler.start();
    await scheduler.advance('7d');
    const history = await scheduler.history();
    expect(history.map((e) => e.fireTime?.toISOString())).toEqual([
      '2030-01-07T08:00:00.000Z',
      '2030-01-08T08:00:00.000Z',
      '2030-01-09T08:00:00.000Z',
      '2030-01-10T08:00:00.000Z',
      '2030-01-11T08:00:00.000Z',
    ]);
  });

  it('fills in the scheduler time zone for triggers that name none', async () => {
    scheduler = createTestScheduler({ now: T0, timezone: 'America/New_York' });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', '0 9 * * *', { id: 'ny' });
    const schedule = await scheduler.getSchedule('ny');
    expect(schedule?.trigger).toMatchObject({ type: 'cron', timezone: 'America/New_York' });
    expect(schedule?.nextFireTime?.toISOString()).toBe('2030-01-07T14:00:00.000Z');
  });

  it('upserts by default and applies keep and error', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 's' });
    await scheduler.addSchedule('tick', interval({ minutes: 2 }), { id: 's' });
    expect((await scheduler.getSchedule('s'))?.trigger).toMatchObject({ minutes: 2 });
    await scheduler.addSchedule('tick', interval({ minutes: 3 }), { id: 's', conflict: 'keep' });
    expect((await scheduler.getSchedule('s'))?.trigger).toMatchObject({ minutes: 2 });
    await expect(
      scheduler.addSchedule('tick', interval({ minutes: 3 }), { id: 's', conflict: 'error' }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('catches up on a restart that re-declares the same schedule (replace keeps fire-time state)', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 's', coalesce: 'all' });
    await scheduler.start();
    await scheduler.advance('2s');
    await scheduler.stop();
    await scheduler.advance('5s'); // down for five seconds
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 's', coalesce: 'all' });
    await scheduler.start();
    await scheduler.runDue();
    const fires = (await scheduler.history()).map((e) => new Date(e.fireTime ?? 0).getTime() - Date.parse(T0));
    expect(fires).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000]);
  });

  it('pauses, then catches up on resume per coalesce', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 's' });
    await scheduler.start();
    await scheduler.runDue();
    await scheduler.pauseSchedule('s');
    await scheduler.advance('10m');
    expect(await scheduler.history()).toHaveLength(1);
    await scheduler.advance('30s');
    await scheduler.resumeSchedule('s');
    await scheduler.runDue();
    const history = await scheduler.history();
    expect(history.map((e) => e.fireTime?.toISOString())).toEqual([
      '2030-01-07T00:00:00.000Z',
      '2030-01-07T00:10:00.000Z',
    ]);
  });

  it('removes a schedule and keeps its history', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 's' });
    await scheduler.start();
    await scheduler.advance('1m');
    expect(await scheduler.removeSchedule('s')).toBe(true);
    expect(await scheduler.removeSchedule('s')).toBe(false);
    await scheduler.advance('5m');
    expect(await scheduler.history({ scheduleId: 's' })).toHaveLength(2);
    expect(await scheduler.getSchedule('s')).toBeNull();
  });

  it('runs a schedule now without moving its timetable', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ hours: 1 }), { id: 's' });
    await scheduler.start();
    await scheduler.advance('10m');
    await scheduler.runScheduleNow('s');
    await scheduler.runDue();
    expect((await scheduler.history()).map((e) => [e.fireTime?.toISOString() ?? null, e.runAt.toISOString()])).toEqual([
      ['2030-01-07T00:00:00.000Z', '2030-01-07T00:00:00.000Z'],
      [null, '2030-01-07T00:10:00.000Z'],
    ]);
    expect((await scheduler.getSchedule('s'))?.nextFireTime?.toISOString()).toBe('2030-01-07T01:00:00.000Z');
    await expect(scheduler.runScheduleNow('missing')).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });

  it('recomputes the next fire time when the trigger is updated', async () => {
    make();
    await scheduler.addSchedule('tick', cron('0 12 * * *', { timezone: 'UTC' }), { id: 's' });
    const updated = await scheduler.updateSchedule('s', {
      trigger: cron('30 6 * * *', { timezone: 'UTC' }),
      maxInstances: 2,
    });
    expect(updated.nextFireTime?.toISOString()).toBe('2030-01-07T06:30:00.000Z');
    expect(updated.maxInstances).toBe(2);
  });

  it('stores an explicit null misfire grace time as "no limit"', async () => {
    make();
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 's', misfireGraceTime: null });
    expect((await scheduler.getSchedule('s'))?.misfireGraceTime).toBeNull();
  });

  it('fires once when a replica re-declares the schedule while this node processes it', async () => {
    make();
    await scheduler.addSchedule('tick', cron('0 9 * * *', { timezone: 'UTC' }), { id: 's' });
    await scheduler.start();
    const redeclare = scheduler.on('job.added', () => {
      redeclare();
      void scheduler.addSchedule('tick', cron('0 9 * * *', { timezone: 'UTC' }), { id: 's', args: { v: 2 } });
    });
    await scheduler.advance('2d');
    expect((await scheduler.history()).map((e) => e.fireTime?.toISOString())).toEqual([
      '2030-01-07T09:00:00.000Z',
      '2030-01-08T09:00:00.000Z',
    ]);
  });

  it('rejects bad input with typed errors that name the thing', async () => {
    make();
    await expect(scheduler.addSchedule('nope', interval({ minutes: 1 }))).rejects.toBeInstanceOf(TaskNotFoundError);
    await expect(scheduler.addSchedule('tick', '61 * * * *')).rejects.toBeInstanceOf(TriggerError);
    await expect(scheduler.addSchedule('tick', { type: 'interval' } as never)).rejects.toBeInstanceOf(TriggerError);
    await expect(
      scheduler.addSchedule('tick', interval({ minutes: 1 }), { coalesce: 'sometimes' as never }),
    ).rejects.toThrow(/coalesce.*"sometimes"/);
    await expect(
      scheduler.addSchedule('tick', interval({ minutes: 1 }), { misfireGraceTime: '5 fortnights' }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(
      scheduler.addSchedule('tick', interval({ minutes: 1 }), { args: { when: new Date() } }),
    ).rejects.toThrow(/args\.when/);
    await expect(scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: '' })).rejects.toThrow(/schedule id/);
    expect(() => scheduler.task('bad name!', () => {})).toThrow(ValidationError);
    expect(await scheduler.getSchedules()).toMatchObject({ items: [] });
  });
});
