import { afterEach, describe, expect, it } from 'vitest';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { interval } from '../../src/triggers/index.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');
const offsets = (times: Array<Date | null>) => times.map((time) => (time ? time.getTime() - T0 : null));

describe('schedule policies', () => {
  let scheduler: TestScheduler;
  afterEach(async () => {
    await scheduler?.stop();
  });

  /** A scheduler whose every-second schedule was "down" for `downMs` before it started. */
  async function afterDowntime(downMs: number, options: Parameters<TestScheduler['addSchedule']>[2]) {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 's', ...options });
    await scheduler.clock.advanceTo(T0 + downMs);
    await scheduler.start();
    await scheduler.runDue();
    return scheduler.history();
  }

  it("coalesce 'latest' runs a backlog once, for its latest fire time", async () => {
    const history = await afterDowntime(5000, { coalesce: 'latest' });
    expect(history.map((e) => e.outcome)).toEqual(['succeeded']);
    expect(offsets(history.map((e) => e.fireTime))).toEqual([5000]);
  });

  it("coalesce 'earliest' runs a backlog once, for its earliest fire time", async () => {
    const history = await afterDowntime(5000, { coalesce: 'earliest' });
    expect(offsets(history.map((e) => e.fireTime))).toEqual([0]);
    expect((await scheduler.getSchedule('s'))?.nextFireTime?.getTime()).toBe(T0 + 6000);
  });

  it("coalesce 'all' runs every fire time of a backlog within the grace time, in order", async () => {
    const history = await afterDowntime(5000, { coalesce: 'all' });
    expect(offsets(history.map((e) => e.fireTime))).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(history.every((e) => e.outcome === 'succeeded')).toBe(true);
  });

  it("records fires beyond the misfire grace time as missed ('all')", async () => {
    const history = await afterDowntime(5000, { coalesce: 'all', misfireGraceTime: '2s' });
    expect(history.map((e) => [e.outcome, (e.fireTime?.getTime() ?? 0) - T0])).toEqual([
      ['missed', 0],
      ['missed', 1000],
      ['missed', 2000],
      ['succeeded', 3000],
      ['succeeded', 4000],
      ['succeeded', 5000],
    ]);
    expect(history[0]?.error?.message).toMatch(/misfire grace time/);
  });

  it("records a coalesced fire beyond the grace time as missed ('earliest')", async () => {
    const history = await afterDowntime(5000, { coalesce: 'earliest', misfireGraceTime: '2s' });
    expect(history.map((e) => e.outcome)).toEqual(['missed']);
  });

  it('settles a year of downtime of an every-second schedule in bounded work', async () => {
    const year = 365 * 86_400_000;
    const history = await afterDowntime(year, { coalesce: 'all', misfireGraceTime: '3s' });
    const missed = history.filter((e) => e.outcome === 'missed');
    const succeeded = history.filter((e) => e.outcome === 'succeeded');
    expect(missed).toHaveLength(101); // 100 listed one by one, then one summary
    expect(missed.at(-1)?.error?.message).toMatch(/too many to record one by one/);
    expect(offsets(succeeded.map((e) => e.fireTime))).toEqual([year - 3000, year - 2000, year - 1000, year]);
  });

  it('skips fires that would exceed max instances and records them', async () => {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('slow', (ctx) => ctx.sleep('2500ms'));
    await scheduler.addSchedule('slow', interval({ seconds: 1 }), { id: 's', maxInstances: 1 });
    await scheduler.start();
    await scheduler.advance('6s');
    const history = await scheduler.history();
    const byFire = history
      .map((e) => [(e.fireTime?.getTime() ?? 0) - T0, e.outcome] as const)
      .sort((a, b) => a[0] - b[0]);
    expect(byFire).toEqual([
      [0, 'succeeded'],
      [1000, 'skipped'],
      [2000, 'skipped'],
      [3000, 'succeeded'],
      [4000, 'skipped'],
      [5000, 'skipped'],
    ]);
  });

  it('adds jitter to run times from the random source, within maxJitter', async () => {
    const draws = [0.5, 0.25];
    scheduler = createTestScheduler({ now: T0, random: () => draws.shift() ?? 0 });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ minutes: 1 }), { id: 's', maxJitter: '10s' });
    await scheduler.start();
    await scheduler.advance('90s');
    const history = await scheduler.history();
    expect(history.map((e) => [(e.fireTime?.getTime() ?? 0) - T0, (e.startedAt?.getTime() ?? 0) - T0])).toEqual([
      [0, 5000],
      [60_000, 62_500],
    ]);
  });

  it('takes jitter from the trigger when the schedule sets none', async () => {
    scheduler = createTestScheduler({ now: T0, random: () => 0.999_999 });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ minutes: 1, jitter: 30 }), { id: 's' });
    expect((await scheduler.getSchedule('s'))?.maxJitter).toBe(30_000);
  });
});
