import type { JobRecord } from '../stores/records.ts';
import type { JobRunner } from './job-runner.ts';
import type { PassResult } from './processing-loop.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * The job loop's pass: lease as many due jobs as this node has free slots for (the store honours
 * max instances and task caps), and hand each to the runner. Jobs past their start deadline are
 * recorded `missed` instead of run.
 */
export class JobProcessor {
  private readonly runtime: SchedulerRuntime;
  private readonly runner: JobRunner;
  /** The earliest lease expiry of a running job, in store time: reap then, not a poll later. */
  private leaseExpiry: number | null = null;

  constructor(runtime: SchedulerRuntime, runner: JobRunner) {
    this.runtime = runtime;
    this.runner = runner;
  }

  async pass(): Promise<PassResult> {
    const { runtime } = this;
    const { store, node, options, tasks, clock } = runtime;
    if (this.leaseExpiry !== null && runtime.storeNow() >= this.leaseExpiry) {
      this.leaseExpiry = null;
      await store.reapAbandoned();
    }
    const free = options.maxConcurrentJobs - this.runner.runningCount;
    if (free <= 0) return null; // a finishing job wakes the loop
    const names = tasks.names();
    if (names.length === 0) return null;
    const limit = Math.min(free, options.batchSize);
    const { now, jobs } = await store.acquireJobs(node, {
      leaseMs: options.leaseMs,
      limit,
      tasks: tasks.limits(),
    });
    this.runtime.skewMs = now.getTime() - clock.now();
    for (const job of jobs) this.dispatch(job, now);
    if (jobs.length === limit) return 'again';
    const next = await store.nextJobTimes(tasks.limits(), now);
    this.leaseExpiry = next.leaseExpiry?.getTime() ?? null;
    const wakeAt = Math.min(
      next.runAt?.getTime() ?? Number.POSITIVE_INFINITY,
      this.leaseExpiry ?? Number.POSITIVE_INFINITY,
    );
    return wakeAt === Number.POSITIVE_INFINITY ? null : wakeAt - now.getTime();
  }

  private dispatch(job: JobRecord, now: Date): void {
    if (job.startDeadline !== null && now.getTime() > job.startDeadline.getTime()) {
      this.runner.recordNotRun(job, 'missed', {
        name: 'MisfireGraceTimeExceeded',
        message: `not started by its start deadline ${job.startDeadline.toISOString()}`,
        stack: null,
      });
    } else if (job.cancelRequested) {
      this.runner.recordNotRun(job, 'cancelled', {
        name: 'JobCancelled',
        message: 'cancelled before it started',
        stack: null,
      });
    } else {
      this.runner.start(job);
    }
  }
}
