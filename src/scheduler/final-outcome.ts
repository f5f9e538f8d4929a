import type { TimerHandle } from '../time/clock.ts';
import { EXECUTION_EVENT_TYPES } from '../events/event-interest.ts';
import type { ExecutionRecord } from '../stores/records.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Waits for the last execution of a job (`runJob`). The job may run on another node whose events
 * this one does not hear (e.g. another process on a SQLite file), so besides listening it looks
 * in the store every poll interval: once the job is gone, its newest execution is its outcome.
 */
export class FinalOutcome {
  readonly promise: Promise<ExecutionRecord>;
  private readonly runtime: SchedulerRuntime;
  private readonly jobId: string;
  private resolve: (execution: ExecutionRecord) => void = () => {};
  private reject: (error: unknown) => void = () => {};
  private unsubscribe: () => void;
  private timer: TimerHandle | null = null;
  private done = false;

  constructor(runtime: SchedulerRuntime, jobId: string) {
    this.runtime = runtime;
    this.jobId = jobId;
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.unsubscribe = runtime.events.subscribe((event) => {
      if (!('execution' in event) || event.jobId !== jobId || event.retryAt !== null) return;
      // Events from other nodes travel without the result: read the full record from the store.
      if (event.execution.node === runtime.node) this.finish(event.execution);
      else void this.look();
    }, EXECUTION_EVENT_TYPES);
    this.arm();
  }

  cancel(): void {
    this.done = true;
    this.unsubscribe();
    if (this.timer !== null) this.runtime.clock.clearTimer(this.timer);
  }

  /** Stops waiting: the scheduler is stopping and would otherwise be kept alive by the look-ups. */
  abandon(error: Error): void {
    if (this.done) return;
    this.cancel();
    this.reject(error);
  }

  private finish(execution: ExecutionRecord): void {
    if (this.done) return;
    this.cancel();
    this.resolve(execution);
  }

  private arm(): void {
    if (this.done) return;
    this.timer = this.runtime.clock.setTimer(() => {
      this.timer = null;
      void this.look();
    }, this.runtime.options.pollIntervalMs);
  }

  private async look(): Promise<void> {
    if (this.done) return;
    try {
      const { store } = this.runtime;
      const pending = (await store.getJobs({ ids: [this.jobId], limit: 1 })).items.length > 0;
      if (!pending) {
        const [latest] = (await store.getExecutions({ jobId: this.jobId, limit: 1 })).items;
        if (latest !== undefined) this.finish(latest);
      }
    } catch (error) {
      this.runtime.reportError(`look up the outcome of job ${this.jobId}`, error);
    }
    if (this.timer === null) this.arm();
  }
}
