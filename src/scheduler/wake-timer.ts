import type { Clock, TimerHandle } from '../time/clock.ts';

/**
 * One timer per loop: the loop sleeps until its next due time, and anything that makes work due
 * earlier (a job added, a schedule resumed, a slot freed) wakes it. A wake that arrives while the
 * loop is busy is remembered, so the next sleep returns at once and nothing is lost in between.
 */
export class WakeTimer {
  private readonly clock: Clock;
  private handle: TimerHandle | null = null;
  private resolveSleep: (() => void) | null = null;
  private wakePending = false;
  /** Clock time the current sleep ends; +Infinity while awake (so any wake is remembered). */
  private plannedAt = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Sleeps `delayMs` (null: until woken). */
  sleep(delayMs: number | null): Promise<void> {
    if (this.wakePending) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.resolveSleep = resolve;
      if (delayMs === null) {
        this.plannedAt = Number.POSITIVE_INFINITY;
      } else {
        const delay = Math.max(0, delayMs);
        this.plannedAt = this.clock.now() + delay;
        this.handle = this.clock.setTimer(() => this.finish(), delay);
      }
    });
  }

  wake(): void {
    if (this.resolveSleep === null) this.wakePending = true;
    else this.finish();
  }

  /** Wakes only if `at` (epoch ms) comes before the end of the current sleep. */
  wakeIfBefore(at: number): void {
    if (this.resolveSleep === null) this.wakePending = true;
    else if (at < this.plannedAt) this.finish();
  }

  private finish(): void {
    if (this.handle !== null) {
      this.clock.clearTimer(this.handle);
      this.handle = null;
    }
    const resolve = this.resolveSleep;
    this.resolveSleep = null;
    this.plannedAt = Number.POSITIVE_INFINITY;
    resolve?.();
  }
}
