import { type Clock, steadyNow, type TimerHandle } from '../time/clock.ts';
import type { JobRunner } from './job-runner.ts';

/**
 * `prefetchMaxWait`: a job claimed for the local queue is leased to this node, so no other node
 * runs it, even an idle one. When this node's slots stay taken (long jobs) until the job that has
 * waited longest has waited that long, the queue is handed back to the cluster: pending again,
 * nothing recorded, no attempt spent. At most one timer is pending, for that job.
 */
export class QueueWaitLimit {
  private readonly clock: Clock;
  private readonly maxWaitMs: number | null;
  private readonly runner: JobRunner;
  private readonly handedBack: (count: number) => void;
  private timer: TimerHandle | null = null;

  /** `handedBack`: called once the queue was handed back, with how many jobs. */
  constructor(clock: Clock, maxWaitMs: number | null, runner: JobRunner, handedBack: (count: number) => void) {
    this.clock = clock;
    this.maxWaitMs = maxWaitMs;
    this.runner = runner;
    this.handedBack = handedBack;
  }

  /** Jobs were queued: makes sure a look is due when the one that has waited longest reaches the limit. */
  watch(): void {
    if (this.maxWaitMs === null || this.timer !== null) return;
    const since = this.runner.oldestQueuedSince();
    if (since === undefined) return;
    this.timer = this.clock.setTimer(() => this.expire(), Math.max(0, since + this.maxWaitMs - steadyNow(this.clock)));
  }

  cancel(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private expire(): void {
    this.timer = null;
    const since = this.runner.oldestQueuedSince();
    if (since === undefined) return;
    // The job this timer was set for has started since: wait for the one now first in the queue.
    if (steadyNow(this.clock) < since + (this.maxWaitMs as number)) return this.watch();
    this.handedBack(this.runner.handBackQueued());
  }
}
