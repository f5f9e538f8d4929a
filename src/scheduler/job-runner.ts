import { setTimeout as delay } from 'node:timers/promises';
import { assertJsonValue, type JsonValue } from '../common/json-value.ts';
import { storableText } from '../common/storable-text.ts';
import { uuidv7 } from '../common/uuid.ts';
import type { Executor } from '../executors/executor.ts';
import type { JobRelease, LeaseRef } from '../stores/data-store.ts';
import type { ExecutionError, ExecutionRecord, JobRecord, Outcome } from '../stores/records.ts';
import { jobAddedEvent } from '../events/event-types.ts';
import { jobRequeue } from '../stores/store-records.ts';
import { steadyNow, type TimerHandle } from '../time/clock.ts';
import { JobInterruption } from './job-context.ts';
import { isCapped, LocalJobQueue } from './local-job-queue.ts';
import { RunningJob, type Settlement } from './running-job.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/** Back-off between attempts to record a run while the store is unreachable. */
const RELEASE_RETRY_FIRST_MS = 100;
const RELEASE_RETRY_MAX_MS = 2_000;
/**
 * How many lease durations a run this node let go of unrecorded is kept from looks for strays. By
 * then its lease has run out in the store too, and such a look leaves it alone for that reason (it
 * only hands back jobs with most of a lease left); this covers a renewal that the store carried out
 * after the node had given up on it.
 */
const UNRECORDED_RUNS_KEPT_LEASES = 10;

/**
 * Runs one job: context, timeout, cancellation, the execution record and the retry decision.
 * An interrupted job (timeout, cancel, shutdown) is recorded at once and its slot freed, even if
 * its code ignores the abort signal and never settles.
 */
export class JobRunner {
  private readonly runtime: SchedulerRuntime;
  private readonly executor: Executor;
  private readonly onSlotFreed: () => void;
  private readonly onCapFreed: () => void;
  private readonly onLeased: (job: JobRecord) => void;
  private readonly running = new Map<string, RunningJob>();
  /** Fired jobs leased to this node ahead of their run time, waiting for it; each holds a slot. */
  private readonly held = new Map<string, { job: JobRecord; timer: TimerHandle }>();
  /** Due jobs claimed beyond the free slots (`prefetchJobs`), waiting here for a slot. */
  private readonly queued = new LocalJobQueue();
  private readonly recording = new Map<string, JobRecord>();
  /** Jobs whose hand-back is being written, and whether a cancel came for one meanwhile. */
  private readonly handingBack = new Map<string, { cancelled: boolean }>();
  private readonly recordings = new Set<Promise<boolean>>();
  /**
   * Runs this node let go of unrecorded, and when (steady clock): stopped because their lease ran
   * out before it could renew it, or given up on recording (stopping). Left to their takeover,
   * which records them, so never handed back as strays (`StrayLeases`). Forgotten after
   * `UNRECORDED_RUNS_KEPT_LEASES` leases.
   */
  private readonly unrecordedRuns = new Map<string, { lease: LeaseRef; at: number }>();
  private givingUp = false;
  /** Aborted when the scheduler gives up recording: ends the back-off waits of `record`. */
  private givingUpSignal = new AbortController();

  /**
   * `onSlotFreed`: a slot of this node is free. `onCapFreed`: a capped job's run was recorded, so
   * the store now counts one fewer against its schedule's or task's cap. `onLeased`: a job leased
   * to this node came in (to run, be held or queued).
   */
  constructor(
    runtime: SchedulerRuntime,
    executor: Executor,
    callbacks: { onSlotFreed: () => void; onCapFreed: () => void; onLeased: (job: JobRecord) => void },
  ) {
    this.runtime = runtime;
    this.executor = executor;
    this.onSlotFreed = callbacks.onSlotFreed;
    this.onCapFreed = callbacks.onCapFreed;
    this.onLeased = callbacks.onLeased;
  }

  /** Slots taken: jobs running, and jobs held for their run time. */
  get runningCount(): number {
    return this.running.size + this.held.size;
  }

  /** Jobs waiting in the local queue for a slot. */
  get queuedCount(): number {
    return this.queued.size;
  }

  runningJobs(): IterableIterator<RunningJob> {
    return this.running.values();
  }

  runningIds(): string[] {
    return [...this.running.keys()];
  }

  /**
   * The attempts this node holds, as leased (the fence for renewals): those running, held for their
   * run time or queued for a slot, and those whose run is still being recorded (while the store is
   * unreachable, say) — their leases must not lapse, or another node would run them again.
   */
  runningLeases(): LeaseRef[] {
    return this.leasedJobs().map((job) => ({ id: job.id, attempt: job.attempt }));
  }

  /**
   * The attempts a look for stray jobs must leave alone (see `StrayLeases`): those this node holds,
   * and the runs it let go of unrecorded (`unrecordedRuns`), whose takeover must record them.
   */
  strayFence(): LeaseRef[] {
    const forgetBefore = steadyNow(this.runtime.clock) - UNRECORDED_RUNS_KEPT_LEASES * this.runtime.options.leaseMs;
    for (const [id, { at }] of this.unrecordedRuns) if (at < forgetBefore) this.unrecordedRuns.delete(id);
    return [...this.runningLeases(), ...[...this.unrecordedRuns.values()].map((run) => run.lease)];
  }

  private leftUnrecorded(job: JobRecord): void {
    this.unrecordedRuns.set(job.id, {
      lease: { id: job.id, attempt: job.attempt },
      at: steadyNow(this.runtime.clock),
    });
  }

  /** The jobs behind `runningLeases`, as this node claimed them. */
  leasedJobs(): JobRecord[] {
    return [...this.unfinishedJobs(), ...this.recording.values()];
  }

  /** The leased jobs that have not finished here: queued, held for their run time, or running (in that order). */
  unfinishedJobs(): JobRecord[] {
    const jobs = this.queued.jobs();
    for (const { job } of this.held.values()) jobs.push(job);
    for (const entry of this.running.values()) jobs.push(entry.job);
    return jobs;
  }

  /**
   * Whether this node still holds the lease of this very claim of a job. A job handed back and
   * claimed again has the same id and attempt, but another lease (and another record object).
   */
  stillHolds(job: JobRecord): boolean {
    return (
      this.running.get(job.id)?.job === job ||
      this.held.get(job.id)?.job === job ||
      this.queued.get(job.id) === job ||
      this.recording.get(job.id) === job
    );
  }

  /** Resolves once every run finished so far is recorded (or given up on). */
  async allRecorded(): Promise<void> {
    while (this.recordings.size > 0) await Promise.all(this.recordings);
  }

  /**
   * Stops retrying to record runs (shutdown): their leases lapse and the jobs are run again
   * elsewhere. A retry waiting out its back-off ends at once, with no further try: against a
   * database that no longer answers, each try holds the stop for the store's time limit.
   */
  giveUpRecording(): void {
    this.givingUp = true;
    this.givingUpSignal.abort();
  }

  /** Records runs for as long as it takes again (the scheduler starts after a stop). */
  resumeRecording(): void {
    this.givingUp = false;
    this.givingUpSignal = new AbortController();
  }

  start(job: JobRecord): void {
    const entry = new RunningJob(job, this.runtime.node, this.runtime.clock, this.runtime.logger);
    this.running.set(job.id, entry);
    this.onLeased(job);
    this.execute(entry).then(
      () => entry.finish(),
      (error: unknown) => {
        // Only a bug in Kairos gets here; the job's lease will expire and it is re-run elsewhere.
        this.running.delete(job.id);
        this.onSlotFreed();
        this.runtime.reportError('run job', error);
        entry.finish();
      },
    );
  }

  /** Holds a job leased to this node until its run time, `delayMs` from now on this node's clock, then calls `due`. */
  hold(job: JobRecord, delayMs: number, due: (job: JobRecord) => void): void {
    const timer = this.runtime.clock.setTimer(() => {
      this.held.delete(job.id);
      due(job);
      // One that did not start (past its start deadline, cancelled) gave its slot back.
      if (!this.running.has(job.id)) this.onSlotFreed();
    }, delayMs);
    this.held.set(job.id, { job, timer });
    this.onLeased(job);
  }

  /** Puts a leased, due job in the local queue, to start when a slot is free (`takeQueued`). */
  enqueue(job: JobRecord): void {
    this.queued.add(job, steadyNow(this.runtime.clock)); // (see QueueWaitLimit)
    this.onLeased(job);
  }

  /** Hands a leased job that never started straight back (pending again for any node, nothing recorded). */
  handBackNow(job: JobRecord): void {
    void this.runtime.activity.track(() => this.handBack(job));
  }

  /** The job that has waited longest in the local queue, taken out of it; undefined if none. */
  takeQueued(): JobRecord | undefined {
    return this.queued.take();
  }

  /** When the job that has waited longest in the local queue was queued (`steadyNow`); undefined if none. */
  oldestQueuedSince(): number | undefined {
    return this.queued.oldestSince();
  }

  /**
   * Hands back every queued job: pending again for any node, nothing recorded, no attempt spent
   * (none started). All of them, not only those that waited longest, so that claimed again they
   * keep their order. Returns how many.
   */
  handBackQueued(): number {
    const jobs = this.queued.takeAll();
    for (const job of jobs) void this.runtime.activity.track(() => this.handBack(job));
    return jobs.length;
  }

  /**
   * Hands back every job that has not started (shutdown): held and queued ones, pending again for
   * their run time, nothing recorded.
   */
  handBackWaiting(): void {
    for (const id of [...this.held.keys(), ...this.queued.jobs().map((job) => job.id)]) {
      this.interrupt(id, 'shutdown', 'handed back before it started');
    }
  }

  /** Interrupts a running, held or queued job; false if this node has no such job (or it was already interrupted). */
  interrupt(jobId: string, kind: JobInterruption['kind'], message: string): boolean {
    const waiting = this.takeWaiting(jobId);
    if (waiting !== undefined) {
      const { job, heldSlot } = waiting;
      if (kind === 'cancelled') {
        this.recordNotRun(job, 'cancelled', {
          name: 'JobCancelled',
          message: 'cancelled before it started',
          stack: null,
        });
      } else if (kind === 'shutdown') {
        void this.runtime.activity.track(() => this.handBack(job));
      } // lease_lost: another node has the job now
      if (heldSlot) this.onSlotFreed();
      return true;
    }
    const handingBack = this.handingBack.get(jobId);
    if (handingBack !== undefined) {
      if (kind === 'cancelled') handingBack.cancelled = true; // done once it is pending again
      return true;
    }
    const entry = this.running.get(jobId);
    return entry?.interrupt(new JobInterruption(kind, message)) ?? false;
  }

  /**
   * Gives up a job whose lease ran out before this node could renew it (see `LeaseFence`): another
   * node may take it over. A running one is stopped (`lease_lost`) and left to the takeover (this
   * node's own, once the store answers, if no other node's comes first), which records it
   * `abandoned`: a record written here could be a second one. A held or queued one never started:
   * this node puts it back pending as soon as the store answers, so that no abandonment retry is
   * spent on it, unless a takeover came first (the hand-back only acts on a job still leased here).
   */
  expire(jobId: string, message: string): void {
    const waiting = this.takeWaiting(jobId);
    if (waiting === undefined) {
      this.running.get(jobId)?.interrupt(new JobInterruption('lease_lost', message));
      return;
    }
    void this.runtime.activity.track(() => this.handBack(waiting.job));
    if (waiting.heldSlot) this.onSlotFreed();
  }

  /** Takes a job that has not started out of the held or queued ones; `heldSlot` if it took a slot. */
  private takeWaiting(jobId: string): { job: JobRecord; heldSlot: boolean } | undefined {
    const held = this.held.get(jobId);
    if (held !== undefined) {
      this.held.delete(jobId);
      this.runtime.clock.clearTimer(held.timer);
      return { job: held.job, heldSlot: true };
    }
    const queued = this.queued.remove(jobId);
    return queued === undefined ? undefined : { job: queued, heldSlot: false };
  }

  /** Records a job this node leased but will not run (missed its deadline, cancelled). */
  recordNotRun(job: JobRecord, outcome: 'missed' | 'cancelled', error: ExecutionError): void {
    const now = this.runtime.storeNow();
    const execution = this.execution(job, null, now, outcome, error, null);
    void this.runtime.activity.track(async () => {
      await this.release(job, { execution });
      if (isCapped(job, this.runtime)) this.onCapFreed();
    });
  }

  private async execute(entry: RunningJob): Promise<void> {
    const { job } = entry;
    const { clock, tasks, events, node, logger } = this.runtime;
    const task = tasks.get(job.task);
    // Written to the store, so on its clock (a retry's run time too): this node's may be off.
    const startedAt = this.runtime.storeNow();
    const steadyStart = steadyNow(clock);
    const startedDate = new Date(startedAt);
    events.publish({
      type: 'job.started',
      timestamp: startedDate,
      jobId: job.id,
      task: job.task,
      scheduleId: job.scheduleId,
      fireTime: job.fireTime,
      attempt: job.attempt,
      node,
      startedAt: startedDate,
    });

    const timeoutMs = task?.timeoutMs ?? null;
    const timer =
      timeoutMs === null
        ? null
        : clock.setTimer(
            () => entry.interrupt(new JobInterruption('timeout', `timed out after ${timeoutMs} ms`)),
            timeoutMs,
          );

    try {
      if (task === undefined) throw new Error(`task ${JSON.stringify(job.task)} is not registered on node ${node}`);
      this.executor.run(task.fn, entry.context, job.args).then(
        (value) => entry.settle({ kind: 'returned', value }),
        (error: unknown) => entry.settle({ kind: 'threw', error }),
      );
    } catch (error) {
      entry.settle({ kind: 'threw', error }); // an executor that throws instead of rejecting
    }
    const settlement = await entry.settlement;

    this.runtime.activity.enter();
    try {
      if (timer !== null) clock.clearTimer(timer);
      this.running.delete(job.id);
      // The slot is free now: jobs no cap applies to can be claimed while this one is recorded.
      this.onSlotFreed();
      if (settlement.kind === 'interrupted' && settlement.reason.kind === 'lease_lost') {
        this.leftUnrecorded(job);
        logger.warn(
          { jobId: job.id, task: job.task, reason: settlement.reason.message },
          'stopped a running job whose lease is lost; the takeover records it',
        );
        return;
      }
      // Timed on the steady clock: a step of the wall clock, or a new estimate of the store's,
      // does not change how long the run took. Whole milliseconds, as every time in the store.
      const finishedAt = startedAt + Math.round(steadyNow(clock) - steadyStart);
      await this.release(job, this.conclude(job, settlement, startedAt, finishedAt));
    } finally {
      // Only now does the store see a max-instances or task-cap place free.
      if (isCapped(job, this.runtime)) this.onCapFreed();
      this.runtime.activity.leave();
    }
  }

  /** Turns how the task settled into an execution record and the job's next state. */
  private conclude(job: JobRecord, settlement: Settlement, startedAt: number, now: number): JobRelease {
    if (settlement.kind === 'returned') {
      return {
        execution: this.execution(job, startedAt, now, 'succeeded', null, this.result(job, settlement.value)),
      };
    }
    if (settlement.kind === 'threw') {
      const execution = this.execution(job, startedAt, now, 'failed', describeError(settlement.error), null);
      return { execution, requeue: this.retry(job, now) };
    }
    const reason = settlement.reason;
    const error: ExecutionError = { name: 'JobInterruption', message: reason.message, stack: null };
    if (reason.kind === 'timeout') {
      return {
        execution: this.execution(job, startedAt, now, 'timed_out', error, null),
        requeue: this.retry(job, now),
      };
    }
    if (reason.kind === 'cancelled') {
      return { execution: this.execution(job, startedAt, now, 'cancelled', error, null) };
    }
    // Shutdown: the job is handed back for another node (or the next start). A deploy is not the
    // job's fault, so this does not spend its abandonment budget.
    return {
      execution: this.execution(job, startedAt, now, 'abandoned', error, null),
      requeue: jobRequeue(job, now, job.attempt + 1, job.abandonRetries),
    };
  }

  private retry(job: JobRecord, now: number): JobRelease['requeue'] {
    // The retry policy of the node that runs the task decides (the node that fired the schedule
    // may not have the task registered at all).
    // Only failed and timed-out runs count (a hand-back or an abandonment is not the job's doing).
    const policy = this.runtime.tasks.get(job.task)?.retry;
    const failedRuns = job.failedRuns + 1;
    if (failedRuns >= (policy?.attempts ?? job.maxAttempts)) return null;
    const delay = policy ? policy.delayAfter(failedRuns, () => this.runtime.random()) : 0;
    return jobRequeue(job, now + delay, job.attempt + 1, job.abandonRetries, failedRuns);
  }

  private result(job: JobRecord, value: unknown): JsonValue {
    try {
      return assertJsonValue('result', value);
    } catch (error) {
      this.runtime.logger.warn(
        {
          jobId: job.id,
          task: job.task,
          reason: error instanceof Error ? error.message : String(error),
        },
        'task returned a value that is not JSON; recording the run with a null result',
      );
      return null;
    }
  }

  private execution(
    job: JobRecord,
    startedAt: number | null,
    finishedAt: number,
    outcome: Outcome,
    error: ExecutionError | null,
    result: JsonValue,
  ): ExecutionRecord {
    return {
      id: uuidv7(finishedAt),
      jobId: job.id,
      scheduleId: job.scheduleId,
      task: job.task,
      args: job.args,
      fireTime: job.fireTime,
      runAt: job.runAt,
      startedAt: startedAt === null ? null : new Date(startedAt),
      finishedAt: new Date(finishedAt),
      durationMs: startedAt === null ? null : finishedAt - startedAt,
      outcome,
      error,
      result,
      node: this.runtime.node,
      attempt: job.attempt,
    };
  }

  /**
   * Puts a job that never started (held or queued) back for any node; they were told it was leased
   * to this one, so they are told again.
   */
  private async handBack(job: JobRecord): Promise<void> {
    const state = { cancelled: false };
    this.handingBack.set(job.id, state);
    try {
      const requeue = jobRequeue(job, job.runAt.getTime(), job.attempt, job.abandonRetries);
      if (!(await this.release(job, { execution: null, attempt: job.attempt, startedAt: job.startedAt, requeue })))
        return;
      if (state.cancelled) {
        // The cancel found the job still leased here and flagged it: the job is pending now, so
        // cancelling it again records `cancelled` at once (else it would when next claimed).
        await this.runtime.store.requestCancel(job.id, this.runtime.node);
        return;
      }
      const pending: JobRecord = { ...job, status: 'pending', acquiredBy: null, acquiredUntil: null, startedAt: null };
      this.runtime.events.publish(jobAddedEvent(pending, new Date(this.runtime.clock.now())));
    } catch (error) {
      this.runtime.reportError('hand back job', error);
    } finally {
      this.handingBack.delete(job.id);
    }
  }

  /**
   * A run whose attempt another node took over before it could be recorded (this node could not
   * reach the store for longer than the lease): the takeover recorded the attempt `abandoned`, and
   * the store keeps one record per attempt, so this outcome is only in the log.
   */
  private reportUnrecorded(job: JobRecord, execution: ExecutionRecord): void {
    this.runtime.logger.warn(
      { jobId: job.id, task: job.task, attempt: execution.attempt, outcome: execution.outcome },
      'a run ended after its job was no longer leased to this node (taken over once its lease ran out, as a rule); the takeover recorded the attempt, and this outcome is not recorded',
    );
  }

  /** Resolves true if the store still had the job leased to this node (false too when given up on). */
  private release(job: JobRecord, release: JobRelease): Promise<boolean> {
    const recording = this.record(job, release).finally(() => this.recordings.delete(recording));
    this.recordings.add(recording);
    return recording;
  }

  /**
   * Records the run, retrying for as long as the store is unreachable (a database restart):
   * meanwhile the job's lease is renewed with the others, so no other node runs it again. Only a
   * shutdown gives up, and then the lease lapses and the job is re-run elsewhere (at least once).
   */
  private async record(job: JobRecord, release: JobRelease): Promise<boolean> {
    this.recording.set(job.id, job);
    try {
      for (let wait = RELEASE_RETRY_FIRST_MS; ; wait = Math.min(RELEASE_RETRY_MAX_MS, wait * 2)) {
        try {
          const held = await this.runtime.store.releaseJob(this.runtime.node, job.id, release);
          if (!held && release.execution !== null) this.reportUnrecorded(job, release.execution);
          return held;
        } catch (error) {
          const what = `${describeRelease(release)} of job ${job.id}`;
          if (!this.givingUp) {
            this.runtime.reportError(what, error);
            // Real time: a store outage is not something the virtual clock models.
            await delay(wait, undefined, { signal: this.givingUpSignal.signal }).catch(() => undefined);
          }
          if (this.givingUp) {
            this.runtime.reportError(`${what} (giving up: stopping)`, error);
            // A run that happened (a hand-back's job never started: it may go back as a stray).
            if (release.execution !== null && release.execution.startedAt !== null) this.leftUnrecorded(job);
            return false;
          }
        }
      }
    } finally {
      // Only this claim's entry: the job may have been claimed again meanwhile.
      if (this.recording.get(job.id) === job) this.recording.delete(job.id);
    }
  }
}

function describeRelease(release: JobRelease): string {
  return release.execution === null
    ? 'hand back the attempt that never started'
    : `record the ${release.execution.outcome} run`;
}

/**
 * The execution record's account of what a task threw. Texts are made storable everywhere: SQL
 * text cannot hold a NUL character, so it becomes U+FFFD (without this, PostgreSQL would refuse the
 * record, and the run could never be recorded).
 */
export function describeError(error: unknown): ExecutionError {
  const { name, message, stack } = rawError(error);
  return {
    name: storableText(name),
    message: storableText(message),
    stack: stack === null ? null : storableText(stack),
  };
}

function rawError(error: unknown): ExecutionError {
  try {
    return describeThrown(error);
  } catch {
    // Even `instanceof` can throw (a Proxy whose getPrototypeOf throws).
    return { name: 'NonErrorThrown', message: '(a thrown value that cannot be inspected)', stack: null };
  }
}

function describeThrown(error: unknown): ExecutionError {
  if (error instanceof Error) {
    return {
      name: text(() => error.name, 'Error'),
      message: text(() => error.message, '(a message that could not be read)'),
      stack: text(() => (error.stack === undefined ? null : error.stack), null),
    };
  }
  const message = text(
    () => (typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error))),
    text(() => String(error), '(a thrown value that cannot be shown as text)'),
  );
  return { name: 'NonErrorThrown', message, stack: null };
}

/**
 * `read()` as a string, or `fallback`: a task may throw anything, even a value whose getters or
 * `toString` throw, and its run must still be recorded.
 */
function text<F extends string | null>(read: () => unknown, fallback: F): string | F {
  try {
    const value = read();
    return value === null ? fallback : String(value);
  } catch {
    return fallback;
  }
}
