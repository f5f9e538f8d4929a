import { type Clock, steadyNow, type TimerHandle } from '../time/clock.ts';

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
  /** Earliest time something asked to be looked at while the loop was awake. */
  private requestedAt = Number.POSITIVE_INFINITY;
  /** Steady clock time (`steadyNow`) the current sleep ends; +Infinity while awake. */
  private plannedAt = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Sleeps `delayMs` (null: until woken), less if a wake-up was asked for meanwhile. */
  sleep(delayMs: number | null): Promise<void> {
    const now = steadyNow(this.clock);
    const requestedAt = this.requestedAt;
    this.requestedAt = Number.POSITIVE_INFINITY;
    if (this.wakePending || requestedAt <= now) {
      this.wakePending = false;
      return Promise.resolve();
    }
    const planned = Math.min(requestedAt, delayMs === null ? Number.POSITIVE_INFINITY : now + Math.max(0, delayMs));
    return new Promise<void>((resolve) => {
      this.resolveSleep = resolve;
      this.plannedAt = planned;
      if (planned !== Number.POSITIVE_INFINITY) this.handle = this.clock.setTimer(() => this.finish(), planned - now);
    });
  }

  wake(): void {
    if (this.resolveSleep === null) this.wakePending = true;
    else this.finish();
  }

  /**
   * Wakes only if `at` (on the steady clock, `steadyNow`) comes before the end of the current sleep. While the loop is
   * awake, `at` is remembered and caps its next sleep; the pass in progress may have missed it.
   */
  wakeIfBefore(at: number): void {
    if (this.resolveSleep === null) {
      if (at < this.requestedAt) this.requestedAt = at;
    } else if (at < this.plannedAt) {
      this.finish();
    }
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
