/**
 * Where the scheduler gets its time and its timers from. The system clock in production; the
 * virtual clock of `kairos/testing` in tests, so that "advance 25 hours" takes no real time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` once after `delayMs`, never synchronously; returns a handle for `clearTimer`. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /**
   * Milliseconds from any origin on a clock that is never stepped (NTP, a resumed VM): for how
   * long something took. (Default: `now()`.)
   */
  monotonicNow?(): number;
}

/** `clock`'s reading for measuring durations: its monotonic one if it has one. */
export function steadyNow(clock: Clock): number {
  return clock.monotonicNow?.() ?? clock.now();
}

export interface TimerHandle {
  readonly [timerBrand]: true;
}
declare const timerBrand: unique symbol;

/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days); longer waits are chained. */
const MAX_TIMEOUT_MS = 2_147_483_647;
/**
 * setTimeout has millisecond granularity and fires up to a millisecond or two late. Timers are set
 * this much early and the rest is waited out turn by turn (setImmediate yields to I/O, so nothing
 * is blocked), which puts fires within a fraction of a millisecond of their due time.
 */
const EARLY_MS = 2;

interface SystemTimer {
  timeout: NodeJS.Timeout | undefined;
  immediate: NodeJS.Immediate | undefined;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicNow: () => performance.now(),
  setTimer(callback, delayMs) {
    const timer: SystemTimer = { timeout: undefined, immediate: undefined };
    const delay = Math.max(0, delayMs);
    const dueWall = Date.now() + delay;
    // Elapsed time is measured on the monotonic clock: a wall clock stepped back (NTP, a resumed
    // VM) must not hold a timer, let alone spin on it until the wall clock catches up.
    const dueMono = performance.now() + delay;
    const finish = (): void => {
      timer.immediate = undefined;
      if (Date.now() >= dueWall || performance.now() >= dueMono + EARLY_MS) callback();
      else timer.immediate = setImmediate(finish);
    };
    const arm = (): void => {
      timer.timeout = undefined;
      const remaining = dueMono - performance.now();
      if (remaining > MAX_TIMEOUT_MS) timer.timeout = setTimeout(arm, MAX_TIMEOUT_MS);
      else if (remaining > EARLY_MS) timer.timeout = setTimeout(finish, remaining - EARLY_MS);
      // Never call back synchronously: the caller may not have finished setting up.
      else timer.immediate = setImmediate(finish);
    };
    arm();
    return timer as unknown as TimerHandle;
  },
  clearTimer(handle) {
    const timer = handle as unknown as SystemTimer;
    if (timer.timeout !== undefined) clearTimeout(timer.timeout);
    if (timer.immediate !== undefined) clearImmediate(timer.immediate);
  },
};
