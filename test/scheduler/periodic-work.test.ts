import { describe, expect, it } from 'vitest';
import { ActivityTracker } from '../../src/scheduler/activity-tracker.ts';
import { PeriodicWork } from '../../src/scheduler/periodic-work.ts';
import { VirtualClock } from '../../src/testing/index.ts';
import { steppedClock } from '../support/stepped-clock.ts';

describe('PeriodicWork (lease renewals, housekeeping)', () => {
  it('keeps its period when the wall clock is stepped back during a run: it counts on the monotonic clock', async () => {
    // Real time passes on `time`; the wall clock reads `wall.stepMs` off it once NTP (or a resumed
    // VM) steps it, while the monotonic reading does not move.
    const time = new VirtualClock(0);
    const { clock, wall } = steppedClock(time);
    const runsAt: number[] = [];
    let answer = () => {};
    const work = new PeriodicWork(clock, new ActivityTracker(), { periodMs: 1000 }, async () => {
      runsAt.push(time.now());
      if (runsAt.length === 2) {
        // The second run (a renewal, say) waits for its answer, and the clock is stepped back meanwhile.
        await new Promise<void>((resolve) => {
          answer = resolve;
        });
      }
      return true;
    });
    await work.start();
    time.advanceTo(1000);
    wall.stepMs = -5000;
    time.advanceTo(1100);
    answer();
    for (let t = 1200; t <= 3000; t += 100) {
      await new Promise((resolve) => setImmediate(resolve));
      time.advanceTo(t);
    }
    await work.stop();
    // Before: the run after the step came 5 s late (at 7 s), past a lease of 10 s renewed at half.
    expect(runsAt).toEqual([0, 1000, 2000, 3000]);
  });
});
