import { ValidationError } from '../errors.ts';
import type { Clock, TimerHandle } from '../time/clock.ts';

interface VirtualTimer {
  dueAt: number;
  seq: number;
  callback: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire in order of due time (then of creation),
 * synchronously, inside `advanceTo`; no real timer is ever set.
 */
export class VirtualClock implements Clock {
  private time: number;
  private timers: VirtualTimer[] = [];
  private seq = 0;

  constructor(start: Date | string | number = Date.now()) {
    this.time = toEpoch('VirtualClock start', start);
  }

  now(): number {
    return this.time;
  }

  setTimer(callback: () => void, delayMs: number): TimerHandle {
    const timer: VirtualTimer = {
      dueAt: this.time + Math.max(0, delayMs),
      seq: this.seq++,
      callback,
      cancelled: false,
    };
    // Keep the list sorted; timers are few (one per loop, lease keeper, running-job timeouts).
    let index = this.timers.length;
    while (index > 0 && isBefore(timer, this.timers[index - 1] as VirtualTimer)) index--;
    this.timers.splice(index, 0, timer);
    return timer as unknown as TimerHandle;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as unknown as VirtualTimer;
    timer.cancelled = true;
    const index = this.timers.indexOf(timer);
    if (index >= 0) this.timers.splice(index, 1);
  }

  /** When the earliest pending timer is due, or null when none is set. */
  nextTimerAt(): number | null {
    return this.timers[0]?.dueAt ?? null;
  }

  /** Pending timers (for diagnostics). */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /**
   * Moves the time forward to `at` and fires every timer due by then, earliest first; a timer set
   * by a callback fires too if it falls due by `at`. Never moves backwards.
   */
  advanceTo(at: Date | string | number): void {
    const target = toEpoch('advanceTo', at);
    if (target < this.time)
      throw new ValidationError(
        'advanceTo',
        at,
        `is before the virtual clock's time ${new Date(this.time).toISOString()}`,
      );
    for (;;) {
      const timer = this.timers[0];
      if (timer === undefined || timer.dueAt > target) break;
      this.timers.shift();
      this.time = Math.max(this.time, timer.dueAt);
      if (!timer.cancelled) timer.callback();
    }
    this.time = target;
  }
}

function isBefore(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
}

export function toEpoch(field: string, value: Date | string | number): number {
  const time = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value;
  if (typeof time !== 'number' || !Number.isFinite(time)) {
    throw new ValidationError(field, value, 'must be a valid Date, ISO-8601 string or epoch milliseconds');
  }
  return time;
}
