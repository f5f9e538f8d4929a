import { afterEach } from 'vitest';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';

export const T0 = Date.parse('2030-01-07T00:00:00.000Z');

/**
 * What the prefetch tests share: a test scheduler at T0 (made by `make`, stopped after each test)
 * and a task `work` that takes virtual time, recording the order jobs start in.
 */
export function prefetchHarness() {
  const harness = {
    scheduler: undefined as unknown as TestScheduler,

    /** A test scheduler at T0 claiming up to 10 jobs at a time, with `options` on top. */
    make(options: Omit<Parameters<typeof createTestScheduler>[0], 'now'>): TestScheduler {
      harness.scheduler = createTestScheduler({ now: T0, batchSize: 10, ...options });
      return harness.scheduler;
    },

    /** Registers `work`, taking `ms` of virtual time; records start order and the peak running at once. */
    slowTask(ms: number) {
      const seen = { started: [] as number[], running: 0, peak: 0 };
      harness.scheduler.task('work', async (ctx, args: { n: number }) => {
        seen.started.push(args.n);
        seen.running++;
        seen.peak = Math.max(seen.peak, seen.running);
        await ctx.sleep(ms);
        seen.running--;
      });
      return seen;
    },

    /** Adds `count` jobs of `work`, numbered from 0; returns their ids. */
    async addJobs(count: number, options: { misfireGraceTime?: string } = {}): Promise<string[]> {
      const ids: string[] = [];
      for (let n = 0; n < count; n++) ids.push(await harness.scheduler.addJob('work', { args: { n }, ...options }));
      return ids;
    },
  };
  afterEach(async () => {
    await harness.scheduler?.stop();
  });
  return harness;
}
