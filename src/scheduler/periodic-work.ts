import { type Clock, steadyNow, type TimerHandle } from '../time/clock.ts';
import type { ActivityTracker } from './activity-tracker.ts';

/**
 * Work done now and then every `periodMs`, counted from the start of one run to the start of the
 * next (a slow run does not stretch the period), never two runs at once. `work` reports its own
 * failures (it must not reject) and resolves to false for a run that failed: the next one then
 * comes `retryMs` after it, if that is sooner.
 */
export class PeriodicWork {
  private readonly clock: Clock;
  private readonly activity: ActivityTracker;
  private readonly periodMs: number;
  private readonly work: () => Promise<boolean>;
  private readonly retryMs: number;
  private timer: TimerHandle | null = null;
  private inProgress: Promise<boolean> | null = null;
  /** Moves on at every start and stop: a run under way across one does not plan the next. */
  private generation = 0;

  constructor(
    clock: Clock,
    activity: ActivityTracker,
    timing: { periodMs: number; retryMs?: number },
    work: () => Promise<boolean>,
  ) {
    this.clock = clock;
    this.activity = activity;
    this.periodMs = timing.periodMs;
    this.retryMs = timing.retryMs ?? timing.periodMs;
    this.work = work;
  }

  /** Runs the work once (resolving when it is done), then every period until `stop`. */
  async start(): Promise<void> {
    this.generation++;
    await this.run();
  }

  /** Runs the work now rather than at its time; a run under way (or a stopped one) is left alone. */
  runNow(): void {
    if (this.timer === null) return;
    this.clock.clearTimer(this.timer);
    this.timer = null;
    void this.run();
  }

  /** No more runs; resolves when the one under way (if any) is done. */
  async stop(): Promise<void> {
    this.generation++;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    await this.inProgress;
  }

  private async run(): Promise<void> {
    const generation = this.generation;
    // On the steady clock: the wall clock stepped back during a run (NTP) would put the next one,
    // a lease renewal say, off by as much, past the lease.
    const startedAt = steadyNow(this.clock);
    const run: Promise<boolean> = this.activity.track(this.work).finally(() => {
      if (this.inProgress === run) this.inProgress = null;
    });
    this.inProgress = run;
    const succeeded = await run;
    if (generation !== this.generation) return;
    const now = steadyNow(this.clock);
    const next = succeeded ? startedAt + this.periodMs : Math.min(startedAt + this.periodMs, now + this.retryMs);
    this.timer = this.clock.setTimer(
      () => {
        this.timer = null;
        void this.run();
      },
      Math.max(1, next - now),
    );
  }
}
