import type { VirtualClock } from '../../src/testing/index.ts';
import type { Clock } from '../../src/time/clock.ts';

/**
 * A node's clock on virtual time `time` whose wall reading can be stepped (NTP, a resumed VM)
 * while its monotonic reading and its timers go on with `time`: set `wall.stepMs`.
 */
export function steppedClock(time: VirtualClock): { clock: Clock; wall: { stepMs: number } } {
  const wall = { stepMs: 0 };
  const clock: Clock = {
    now: () => time.now() + wall.stepMs,
    monotonicNow: () => time.now(),
    setTimer: (callback, delayMs) => time.setTimer(callback, delayMs),
    clearTimer: (handle) => time.clearTimer(handle),
  };
  return { clock, wall };
}
