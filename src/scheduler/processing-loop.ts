import type { Logger } from '../common/logger.ts';
import type { Clock } from '../time/clock.ts';
import type { ActivityTracker } from './activity-tracker.ts';
import { WakeTimer } from './wake-timer.ts';

/** What a pass returns: run again at once, sleep this many ms, or sleep until woken (null). */
export type PassResult = 'again' | number | null;

export interface ProcessingLoopOptions {
  name: string;
  clock: Clock;
  logger: Logger;
  activity: ActivityTracker;
  /** Longest sleep, so a lost wake-up costs at most this much (the safety-net poll). */
  pollIntervalMs: number;
  pass: () => Promise<PassResult>;
  onError: (error: unknown) => void;
}

const FIRST_ERROR_BACKOFF_MS = 250;

/**
 * Runs one kind of work (firing schedules, or starting jobs) pass after pass, sleeping in between.
 * A failing pass (the store is down) is reported and retried with a growing back-off up to the
 * poll interval; it never ends the loop and never takes the process down.
 */
export class ProcessingLoop {
  private readonly options: ProcessingLoopOptions;
  readonly timer: WakeTimer;
  private running = false;
  private finished: Promise<void> = Promise.resolve();
  private errorBackoffMs = 0;

  constructor(options: ProcessingLoopOptions) {
    this.options = options;
    this.timer = new WakeTimer(options.clock);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.finished = this.loop();
  }

  /** Stops after the pass in progress; resolves when it is over. */
  async stop(): Promise<void> {
    this.running = false;
    this.timer.wake();
    await this.finished;
  }

  private async loop(): Promise<void> {
    const { activity, pollIntervalMs } = this.options;
    while (this.running) {
      let result: PassResult;
      activity.enter();
      try {
        result = await this.options.pass();
        this.errorBackoffMs = 0;
      } catch (error) {
        this.options.onError(error);
        this.errorBackoffMs = Math.min(pollIntervalMs, Math.max(FIRST_ERROR_BACKOFF_MS, this.errorBackoffMs * 2));
        result = this.errorBackoffMs;
      } finally {
        activity.leave();
      }
      if (!this.running) break;
      if (result === 'again') continue;
      // At least a millisecond: a store that keeps answering "due now" without handing anything
      // out must cost a query per millisecond, not a spin.
      await this.timer.sleep(result === null ? pollIntervalMs : Math.max(1, Math.min(result, pollIntervalMs)));
    }
  }
}
