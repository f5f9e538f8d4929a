import type { JsonValue } from '../common/json-value.ts';
import type { Logger } from '../common/logger.ts';
import type { JobRecord } from '../stores/records.ts';
import type { Clock } from '../time/clock.ts';
import { type Duration, parseDuration } from '../time/duration.ts';
import { type JobContext, type JobInterruption, jobLogger } from './job-context.ts';

/**
 * A job this node is running: its interruption state and what the task sees of it. The abort
 * controller and the job logger are made only if the task asks for them: most tasks never do, and
 * a burst of 100,000 jobs should not pay for 100,000 of each.
 */
export class RunningJob {
  readonly job: JobRecord;
  readonly context: JobContext;
  /** Waiting on the scheduler clock (`ctx.sleep`): the test scheduler may move time on. */
  parked = false;
  interruption: JobInterruption | null = null;
  /** How the run ended: the first of the task settling and an interruption. */
  readonly settlement: Promise<Settlement>;
  settle: (settlement: Settlement) => void = () => {};
  private controller: AbortController | null = null;
  private finished = false;
  private whenDone: { promise: Promise<void>; resolve: () => void } | null = null;
  private interruptListeners: Set<(reason: JobInterruption) => void> | null = null;

  constructor(job: JobRecord, node: string, clock: Clock, logger: Logger) {
    this.job = job;
    this.context = new TaskContext(this, node, clock, logger);
    this.settlement = new Promise((resolve) => {
      this.settle = resolve;
    });
  }

  /** Resolves once the job's execution is recorded (or given up on, for a lost lease). */
  get done(): Promise<void> {
    if (this.finished) return Promise.resolve();
    if (this.whenDone === null) {
      let resolve: () => void = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.whenDone = { promise, resolve };
    }
    return this.whenDone.promise;
  }

  finish(): void {
    this.finished = true;
    this.whenDone?.resolve();
  }

  /** Calls `listener` on interruption; returns the function that removes it. */
  onInterrupt(listener: (reason: JobInterruption) => void): () => void {
    this.interruptListeners ??= new Set();
    this.interruptListeners.add(listener);
    return () => this.interruptListeners?.delete(listener);
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.interruption !== null) this.controller.abort(this.interruption);
    }
    return this.controller.signal;
  }

  /** False if the job was already interrupted. */
  interrupt(reason: JobInterruption): boolean {
    if (this.interruption !== null) return false;
    this.interruption = reason;
    this.controller?.abort(reason);
    this.settle({ kind: 'interrupted', reason });
    for (const listener of this.interruptListeners ?? []) listener(reason);
    return true;
  }
}

/** `ctx` as the task sees it. */
class TaskContext implements JobContext {
  readonly jobId: string;
  readonly task: string;
  readonly args: JsonValue;
  readonly scheduleId: string | null;
  readonly fireTime: Date | null;
  readonly runAt: Date;
  readonly attempt: number;
  readonly node: string;
  readonly #running: RunningJob;
  readonly #clock: Clock;
  readonly #baseLogger: Logger;
  #logger: Logger | null = null;

  constructor(running: RunningJob, node: string, clock: Clock, logger: Logger) {
    const job = running.job;
    this.jobId = job.id;
    this.task = job.task;
    this.args = job.args;
    this.scheduleId = job.scheduleId;
    this.fireTime = job.fireTime;
    this.runAt = job.runAt;
    this.attempt = job.attempt;
    this.node = node;
    this.#running = running;
    this.#clock = clock;
    this.#baseLogger = logger;
  }

  get signal(): AbortSignal {
    return this.#running.signal;
  }

  get logger(): Logger {
    this.#logger ??= jobLogger(this.#baseLogger, {
      jobId: this.jobId,
      task: this.task,
      attempt: this.attempt,
    });
    return this.#logger;
  }

  sleep(duration: Duration): Promise<void> {
    const ms = parseDuration('ctx.sleep duration', duration);
    const running = this.#running;
    if (running.interruption !== null) return Promise.reject(running.interruption);
    const clock = this.#clock;
    return new Promise<void>((resolve, reject) => {
      running.parked = true;
      const timer = clock.setTimer(() => {
        stopListening();
        running.parked = false;
        resolve();
      }, ms);
      const stopListening = running.onInterrupt((reason) => {
        clock.clearTimer(timer);
        running.parked = false;
        reject(reason);
      });
    });
  }
}

export type Settlement =
  | { kind: 'returned'; value: unknown }
  | { kind: 'threw'; error: unknown }
  | { kind: 'interrupted'; reason: JobInterruption };
