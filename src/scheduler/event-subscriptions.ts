import { finishedKey } from '../events/event-interest.ts';
import type { KairosEvent } from '../events/event-types.ts';
import type { JobRunner } from './job-runner.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import type { WakeTimer } from './wake-timer.ts';

/**
 * Turns events (from this node or, with a cluster broker, any node) into wake-ups: a job added or
 * re-queued wakes the job loop if it is due before the loop's planned wake; a finished job, or
 * another node that stopped, may have freed a max-instances slot; a schedule added or resumed
 * wakes the schedule loop; a cancel request aborts the job if it runs here.
 */
export class EventSubscriptions {
  private readonly runtime: SchedulerRuntime;
  private readonly runner: JobRunner;
  private readonly scheduleTimer: WakeTimer;
  private readonly jobTimer: WakeTimer;
  private unsubscribe: (() => void) | null = null;
  /** The interest subscribed with, as a key to tell when it changes. */
  private interestKey = '';
  /** Tasks with due jobs held back by a schedule's `maxInstances`, at this node's last claim. */
  private heldBack: readonly string[] = [];

  constructor(runtime: SchedulerRuntime, runner: JobRunner, scheduleTimer: WakeTimer, jobTimer: WakeTimer) {
    this.runtime = runtime;
    this.runner = runner;
    this.scheduleTimer = scheduleTimer;
    this.jobTimer = jobTimer;
  }

  start(): void {
    if (this.unsubscribe !== null) return;
    // No observation events, besides the outcomes of runs that may free a place this node waits
    // for (see `interest`); what follows runs here arrives locally anyway.
    const interest = this.interest();
    this.interestKey = interest.join('\n');
    this.unsubscribe = this.runtime.events.subscribe((event) => this.handle(event), interest);
  }

  /** Subscribes anew if the interest changed (a task registered after start, jobs held back). */
  refresh(): void {
    if (this.unsubscribe === null) return;
    if (this.interest().join('\n') === this.interestKey) return;
    this.stop();
    this.start();
  }

  /**
   * The tasks whose due jobs the last claim left pending for their schedule's `maxInstances`: the
   * run holding the place may end on another node, and only its outcome would say so. Their
   * outcomes are listened for, from every node, until a claim finds none held back. True if a task
   * is new to the list.
   */
  waitFor(tasks: readonly string[]): boolean {
    const heldBack = [...new Set(tasks)].sort();
    if (heldBack.join('\n') === this.heldBack.join('\n')) return false;
    const grew = heldBack.some((task) => !this.heldBack.includes(task));
    this.heldBack = heldBack;
    this.refresh();
    return grew;
  }

  /** The outcomes of capped tasks' runs (a slot of theirs may be free now), and of held-back ones. */
  private interest(): `finished:${string}`[] {
    const capped = this.runtime.tasks
      .limits()
      .filter((task) => task.maxRunningJobs !== null)
      .map((task) => task.name);
    return [...new Set([...capped, ...this.heldBack])].sort().map((task) => finishedKey(task));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  /** Event times are the store's; the timers run on this node's steady clock (see `WakeTimer`). */
  private nodeTime(storeTime: Date): number {
    return storeTime.getTime() - this.runtime.storeClock.offsetMs();
  }

  private handle(event: KairosEvent): void {
    switch (event.type) {
      case 'job.added':
        // (An older node's event has no leasedTo: a job for any node.)
        if ((event.leasedTo ?? null) === null && this.runtime.tasks.has(event.task)) {
          this.jobTimer.wakeIfBefore(this.nodeTime(event.runAt));
        }
        return;
      case 'schedule.added':
      case 'schedule.updated':
      case 'schedule.resumed':
        if (event.nextFireTime !== null) {
          this.scheduleTimer.wakeIfBefore(this.nodeTime(event.nextFireTime) - this.runtime.options.fireAheadMs);
        }
        return;
      case 'job.cancel_requested':
        this.runner.interrupt(event.jobId, 'cancelled', 'cancelled on request');
        return;
      case 'scheduler.stopped':
        // Its last runs may have held the only slot of a schedule's max instances, and nobody was
        // told (their outcomes go only to listeners, and it claims nothing more itself): look.
        if (event.node !== this.runtime.node) this.jobTimer.wake();
        return;
      case 'job.succeeded':
      case 'job.failed':
      case 'job.timed_out':
      case 'job.cancelled':
      case 'job.abandoned':
        if (!this.runtime.tasks.has(event.task)) return;
        if (event.retryAt !== null) this.jobTimer.wakeIfBefore(this.nodeTime(event.retryAt));
        // A job that ended may have held the last free slot of its schedule or task.
        else if (event.execution.node !== this.runtime.node) this.jobTimer.wake();
        return;
      default:
        return;
    }
  }
}
