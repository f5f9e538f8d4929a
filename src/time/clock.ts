/**
 * Where the scheduler gets its time and its timers from. The system clock in production; the
 * virtual clock of `kairos/testing` in tests, so that "advance 25 hours" takes no real time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `callback` once after `delayMs`; returns a handle for `clearTimer`. */
  setTimer(callback: () => void, delayMs: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly [timerBrand]: true;
}
declare const timerBrand: unique symbol;

/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days); longer waits are chained. */
const MAX_TIMEOUT_MS = 2_147_483_647;

interface SystemTimer {
  timeout: NodeJS.Timeout | undefined;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const timer: SystemTimer = { timeout: undefined };
    const dueAt = Date.now() + Math.max(0, delayMs);
    const arm = (): void => {
      const remaining = dueAt - Date.now();
      if (remaining > MAX_TIMEOUT_MS) {
        timer.timeout = setTimeout(arm, MAX_TIMEOUT_MS);
      } else {
        timer.timeout = setTimeout(callback, Math.max(0, remaining));
      }
    };
    arm();
    return timer as unknown as TimerHandle;
  },
  clearTimer(handle) {
    const timer = handle as unknown as SystemTimer;
    if (timer.timeout !== undefined) clearTimeout(timer.timeout);
  },
};
