import { assertJsonValue } from '../common/json-value.ts';
import {
  JobFailedError,
  ScheduleNotFoundError,
  SchedulerStateError,
  TaskNotFoundError,
  ValidationError,
} from '../errors.ts';
import type { KairosEvent, KairosEventType } from '../events/event-types.ts';
import { AsyncExecutor } from '../executors/async-executor.ts';
import type { DataStore, SchedulePatch } from '../stores/data-store.ts';
import type { ExecutionQuery, JobQuery, Page, ScheduleQuery } from '../stores/queries.ts';
import type { ExecutionRecord, JobRecord, NodeInfo, ScheduleRecord } from '../stores/records.ts';
import { type Clock, steadyNow } from '../time/clock.ts';
import { type Duration, parseDuration } from '../time/duration.ts';
import { EventSubscriptions } from './event-subscriptions.ts';
import { type AddJobOptions, jobFromOptions, newJobRecord } from './job-input.ts';
import { JobProcessor } from './job-processor.ts';
import { JobRunner } from './job-runner.ts';
import { LeaseFence } from './lease-fence.ts';
import { Maintenance } from './maintenance.ts';
import { ProcessingLoop } from './processing-loop.ts';
import {
  type AddScheduleOptions,
  conflictPolicy,
  firstFireTime,
  newSchedule,
  schedulePolicies,
  type TriggerInput,
  toTrigger,
  type UpdateScheduleOptions,
  validateScheduleId,
} from './schedule-input.ts';
import { ScheduleProcessor } from './schedule-processor.ts';
import type { SchedulerOptions } from './scheduler-options.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import { type RegisteredTask, type TaskFunction, type TaskOptions, validateTaskName } from './task-registry.ts';
import { createRuntime } from './create-runtime.ts';
import { isAbandonedOpening, StoreSession } from './store-session.ts';
import { StrayLeases } from './stray-leases.ts';
import { eventTypeArgument, jobIdArgument, objectArgument } from './call-arguments.ts';
import { executionQueryArgument, jobQueryArgument, scheduleQueryArgument } from './query-arguments.ts';
import { FinalOutcome } from './final-outcome.ts';

/**
 * The least a stop waits for the node to leave the cluster and close the store, however little of
 * `shutdownTimeout` is left (0 included): a few round trips, which a store that answers takes in
 * milliseconds.
 */
const LEAVE_MIN_MS = 5_000;

export type SchedulerState = 'stopped' | 'starting' | 'running' | 'stopping';

/**
 * The Kairos scheduler: register tasks, declare schedules, add jobs, then `start()` when the app is
 * ready. Data methods work before `start()` (a web process may only add jobs and never start).
 */
export class Scheduler {
  readonly nodeId: string;
  protected readonly runtime: SchedulerRuntime;
  protected readonly runner: JobRunner;
  private readonly jobProcessor: JobProcessor;
  protected readonly scheduleLoop: ProcessingLoop;
  protected readonly jobLoop: ProcessingLoop;
  private readonly maintenance: Maintenance;
  private readonly strays: StrayLeases;
  private readonly subscriptions: EventSubscriptions;
  private currentState: SchedulerState = 'stopped';
  private readonly session: StoreSession;
  /** How many times stop() was called (a start() knows whether a stop came after it). */
  private stopCalls = 0;
  /** `runJob` calls still waiting for an outcome; given up on when the scheduler stops. */
  private readonly waiting = new Set<FinalOutcome>();
  /** The last start() or stop() called (settled either way), and how many are under way. */
  private lastLifecycleCall: Promise<unknown> = Promise.resolve();
  private lifecycleCallsPending = 0;
  /** The end of the last stop (see `leave`), which may go on after stop() returned. */
  private leaving: Promise<void> = Promise.resolve();
  /** `leaving` has not finished. */
  private leavingUnderWay = false;

  constructor(options: SchedulerOptions = {}) {
    const runtime = createRuntime(options);
    const { clock, logger } = runtime;
    this.runtime = runtime;
    this.nodeId = runtime.node;
    this.session = new StoreSession(
      runtime,
      () => this.wakeLoops(),
      () => this.currentState === 'running',
    );
    this.runner = new JobRunner(runtime, options.executor ?? new AsyncExecutor(), {
      onSlotFreed: () => jobProcessor.slotFreed(),
      onCapFreed: () => jobProcessor.capFreed(),
      onLeased: (job) => fence.watch(job),
    });
    const fence = new LeaseFence(
      runtime,
      () => this.runner.unfinishedJobs(),
      (job) => this.runner.expire(job.id, 'its lease ran out before this node could renew it'),
    );
    const loop = (name: string, pass: () => Promise<'again' | number | null>) =>
      new ProcessingLoop({
        name,
        clock,
        logger,
        activity: runtime.activity,
        pollIntervalMs: runtime.options.pollIntervalMs,
        pass,
        onError: (error) => runtime.reportError(name, error),
      });
    const strays = new StrayLeases(
      runtime,
      () => this.runner.strayFence(),
      () => this.jobLoop.timer.wake(),
    );
    this.strays = strays;
    const jobProcessor = new JobProcessor(
      runtime,
      this.runner,
      fence,
      strays,
      () => this.jobLoop.timer.wake(),
      (tasks) => this.subscriptions.waitFor(tasks),
    );
    this.jobProcessor = jobProcessor;
    const scheduleProcessor = new ScheduleProcessor(runtime, jobProcessor, fence, strays);
    this.scheduleLoop = loop('fire due schedules', () => scheduleProcessor.pass());
    this.jobLoop = loop('start due jobs', () => jobProcessor.pass());
    // (The loops' next passes make their times on the store's clock as read again.)
    this.maintenance = new Maintenance(runtime, this.runner, fence, strays, () => this.wakeLoops());
    this.subscriptions = new EventSubscriptions(runtime, this.runner, this.scheduleLoop.timer, this.jobLoop.timer);
  }

  get state(): SchedulerState {
    return this.currentState;
  }

  get timezone(): string {
    return this.runtime.options.timezone;
  }

  /** Registers (or replaces) the function behind a task name. */
  task<Args = unknown>(name: string, fn: TaskFunction<Args>, options?: TaskOptions): this {
    this.runtime.tasks.register(name, fn, options);
    this.subscriptions.refresh();
    return this;
  }

  getTasks(): RegisteredTask[] {
    return this.runtime.tasks.all();
  }

  /** Adds (by default: upserts) a schedule; returns its id. */
  async addSchedule(task: string, trigger: TriggerInput, options?: AddScheduleOptions): Promise<string> {
    this.requireTask(task);
    const checked = objectArgument('schedule options', options);
    const compiled = toTrigger(trigger, this.timezone);
    const conflict = conflictPolicy(checked.conflict);
    const make = (now: number) => newSchedule(task, compiled, checked, this.runtime.options.scheduleDefaults, now);
    const result = await this.withStoreAt(make, (schedule) =>
      this.runtime.store.addSchedule(schedule, conflict, checked.tx),
    );
    return result.schedule.id;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | null> {
    const query = { ids: [validateScheduleId(id)], limit: 1 };
    return (await this.withStore(() => this.runtime.store.getSchedules(query))).items[0] ?? null;
  }

  async getSchedules(query?: ScheduleQuery): Promise<Page<ScheduleRecord>> {
    const checked = scheduleQueryArgument(query);
    return this.withStore(() => this.runtime.store.getSchedules(checked));
  }

  /** Changes a schedule; a new trigger recomputes its next fire time from now. */
  async updateSchedule(id: string, options: UpdateScheduleOptions): Promise<ScheduleRecord> {
    validateScheduleId(id);
    const patch: SchedulePatch = schedulePolicies(options);
    if (options.task !== undefined) {
      this.requireTask(options.task);
      patch.task = options.task;
    }
    if (options.args !== undefined) patch.args = assertJsonValue('args', options.args);
    if (options.trigger === undefined) return this.withStore(() => this.runtime.store.updateSchedule(id, patch));
    const trigger = toTrigger(options.trigger, this.timezone);
    patch.trigger = trigger.toJSON();
    patch.brokenReason = null;
    const make = (now: number) => ({ ...patch, nextFireTime: firstFireTime(trigger, now) });
    return this.withStoreAt(make, (timed) => this.runtime.store.updateSchedule(id, timed));
  }

  /** Stops a schedule from firing. Fires that fall due while paused are caught up on resume, per misfire and coalesce. */
  async pauseSchedule(id: string): Promise<ScheduleRecord> {
    validateScheduleId(id);
    return this.withStore(() => this.runtime.store.updateSchedule(id, { paused: true }));
  }

  async resumeSchedule(id: string): Promise<ScheduleRecord> {
    validateScheduleId(id);
    return this.withStore(() => this.runtime.store.updateSchedule(id, { paused: false }));
  }

  /** Removes a schedule (its history stays); false if it did not exist. */
  async removeSchedule(id: string): Promise<boolean> {
    validateScheduleId(id);
    return (await this.withStore(() => this.runtime.store.removeSchedules([id]))).length === 1;
  }

  /** Adds a job for the schedule now, outside its trigger's timetable; returns the job id. */
  async runScheduleNow(id: string): Promise<string> {
    const schedule = await this.getSchedule(id);
    if (schedule === null) throw new ScheduleNotFoundError(id);
    const now = this.now();
    const job = newJobRecord(this.runtime, {
      task: schedule.task,
      args: schedule.args,
      now,
      runAt: now,
      misfireGraceTime: schedule.misfireGraceTime,
      scheduleId: schedule.id,
      // No fire time: this run is outside the trigger's timetable, and must not take the
      // (schedule, fire time) key of a real fire at the same instant.
      maxInstances: schedule.maxInstances,
    });
    await this.withStore(() => this.runtime.store.addJob(job));
    return job.id;
  }

  /** Adds a one-off job; returns its id. */
  async addJob(task: string, options: AddJobOptions = {}): Promise<string> {
    this.requireTask(task);
    const make = (now: number) => jobFromOptions(task, options, now, this.runtime);
    return this.withStoreAt(make, async (job) => {
      await this.runtime.store.addJob(job, options.tx);
      return job.id;
    });
  }

  /**
   * Adds a job inside the application's own synchronous SQLite transaction (`tx`: its
   * better-sqlite3 or node:sqlite connection, inside `db.transaction(() => ...)`): the job exists
   * only if that transaction commits, and then starts at once. Needs `await scheduler.ready()` first.
   */
  addJobSync(task: string, options: AddJobOptions & { tx: unknown }): string {
    this.requireTask(task);
    const store = this.syncStore('addJobSync');
    const job = jobFromOptions(task, options, this.now(), this.runtime);
    store.addJobSync(job, options?.tx);
    return job.id;
  }

  /** `addSchedule` inside the application's own synchronous SQLite transaction; see `addJobSync`. */
  addScheduleSync(task: string, trigger: TriggerInput, options: AddScheduleOptions & { tx: unknown }): string {
    this.requireTask(task);
    const store = this.syncStore('addScheduleSync');
    const compiled = toTrigger(trigger, this.timezone);
    const schedule = newSchedule(task, compiled, options, this.runtime.options.scheduleDefaults, this.now());
    return store.addScheduleSync(schedule, conflictPolicy(options.conflict), options?.tx).schedule.id;
  }

  private syncStore(method: string): Required<Pick<DataStore, 'addJobSync' | 'addScheduleSync'>> {
    const { store } = this.runtime;
    if (store.addJobSync === undefined || store.addScheduleSync === undefined) {
      throw new SchedulerStateError(
        `${method} needs a store with synchronous transactions (SqliteStore); use addJob/addSchedule with { tx } instead`,
      );
    }
    if (!this.session.opened)
      throw new SchedulerStateError(`${method} needs the store opened first: await scheduler.ready()`);
    return store as Required<Pick<DataStore, 'addJobSync' | 'addScheduleSync'>>;
  }

  /** Adds a job and waits for its final outcome: resolves with its result, rejects with `JobFailedError`. */
  async runJob<Result = unknown>(task: string, options: Omit<AddJobOptions, 'tx'> = {}): Promise<Result> {
    this.requireTask(task);
    const make = (now: number) => jobFromOptions(task, options, now, this.runtime);
    return this.withStoreAt(make, async (job) => {
      const outcome = new FinalOutcome(this.runtime, job.id);
      this.waiting.add(outcome);
      let execution: ExecutionRecord;
      try {
        await this.runtime.store.addJob(job);
        execution = await outcome.promise;
      } finally {
        outcome.cancel();
        this.waiting.delete(outcome);
      }
      if (execution.outcome === 'succeeded') return execution.result as Result;
      throw new JobFailedError(job.id, execution.outcome, execution.error?.message ?? execution.outcome);
    });
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const query = { ids: [jobIdArgument(id)], limit: 1 };
    return (await this.withStore(() => this.runtime.store.getJobs(query))).items[0] ?? null;
  }

  async getJobs(query?: JobQuery): Promise<Page<JobRecord>> {
    const checked = jobQueryArgument(query);
    return this.withStore(() => this.runtime.store.getJobs(checked));
  }

  /** Cancels a pending job at once, or asks the node running it to abort it (cluster-wide). */
  async cancelJob(id: string): Promise<'cancelled' | 'requested' | 'not_found'> {
    jobIdArgument(id);
    const result = await this.withStore(() => this.runtime.store.requestCancel(id, this.nodeId));
    if (result.status === 'requested') this.runner.interrupt(id, 'cancelled', 'cancelled on request');
    return result.status;
  }

  /** Execution history, newest first, filtered and paged. */
  async getExecutions(query?: ExecutionQuery): Promise<Page<ExecutionRecord>> {
    const checked = executionQueryArgument(query);
    return this.withStore(() => this.runtime.store.getExecutions(checked));
  }

  /** Deletes history older than a date or an age (`'7d'`); returns how many records went. */
  async pruneExecutions(options: { olderThan: Date | Duration }): Promise<number> {
    const cutoff = (now: number) =>
      options?.olderThan instanceof Date
        ? options.olderThan
        : new Date(now - parseDuration('olderThan', options?.olderThan));
    if (Number.isNaN(cutoff(this.now()).getTime()))
      throw new ValidationError('olderThan', options.olderThan, 'must be a valid Date or a duration');
    return this.withStoreAt(cutoff, (olderThan) => this.runtime.store.pruneExecutions(olderThan));
  }

  async getNodes(): Promise<NodeInfo[]> {
    return this.withStore(() => this.runtime.store.getNodes());
  }

  /** Subscribes to one event type, or `'*'` for all; returns the function that unsubscribes. */
  on<K extends KairosEventType>(type: K, listener: (event: KairosEvent<K>) => void): () => void;
  on(type: '*', listener: (event: KairosEvent) => void): () => void;
  on(type: string, listener: (event: KairosEvent) => void): () => void {
    eventTypeArgument(type);
    if (typeof listener !== 'function') throw new ValidationError('listener', listener, 'must be a function');
    return this.runtime.events.subscribe(
      (event) => {
        if (type === '*' || event.type === type) listener(event);
      },
      type === '*' ? '*' : [type as KairosEventType],
    );
  }

  /** Starts firing schedules and running jobs. Call it when the app is ready. */
  start(): Promise<void> {
    const stopCallsBefore = this.stopCalls;
    return this.inCallOrder(() => this.startNow(() => this.stopCalls > stopCallsBefore));
  }

  /**
   * start() and stop() take effect in the order they are called: one called while another is
   * under way runs after it (a stop() during start() stops what it started; a start() during
   * stop() starts again once stopped). With none under way, it begins at once.
   */
  private inCallOrder(call: () => Promise<void>): Promise<void> {
    const run = this.lifecycleCallsPending === 0 ? call() : this.lastLifecycleCall.then(call, call);
    this.lifecycleCallsPending++;
    const done = () => {
      this.lifecycleCallsPending--;
    };
    run.then(done, done);
    this.lastLifecycleCall = run.catch(() => undefined);
    return run;
  }

  /** `stopCalledSince`: whether stop() was called after this start() (it waits behind it). */
  private startNow(stopCalledSince: () => boolean): Promise<void> {
    if (this.currentState !== 'stopped') {
      return Promise.reject(new SchedulerStateError(`start() called while ${this.currentState}`));
    }
    this.currentState = 'starting';
    return this.startUp(stopCalledSince);
  }

  private async startUp(stopCalledSince: () => boolean): Promise<void> {
    try {
      await this.leaving; // the end of the last stop, if it went on in the background
      // Opens the store, or reads its clock again if the last reading is old (ready() long ago):
      // the node's start in store time fences its stray jobs (see StrayLeases.open).
      if (!this.session.ready) {
        const opened = this.session.afterOpen(async () => undefined);
        // A stop() made while this start waited its turn (or for the last stop's end) wants it
        // to wait for nothing either.
        if (stopCalledSince()) this.session.abandonOpening();
        await opened;
      }
      this.subscriptions.start();
      this.strays.open();
      await this.maintenance.start();
      this.jobProcessor.open();
      this.runner.resumeRecording();
      this.scheduleLoop.start();
      this.jobLoop.start();
    } catch (error) {
      this.subscriptions.stop();
      await this.maintenance.stop();
      this.currentState = 'stopped';
      // A stop() overtook the opening of the store: the start took effect, stopped at once.
      if (isAbandonedOpening(error)) return;
      throw error;
    }
    this.currentState = 'running';
    this.runtime.events.publish({ type: 'scheduler.started', timestamp: new Date(this.now()), node: this.nodeId });
  }

  /**
   * Stops gracefully: no new jobs start, running ones get `shutdownTimeout` to finish, then are
   * aborted and handed back to the cluster; leases are released and the node leaves the cluster.
   */
  stop(): Promise<void> {
    // (A stop() during start() runs once the start is over, and stops what it started. A start
    // whose store waits as it opens, for another node's migration, gives up that wait instead.)
    this.stopCalls++;
    if (this.currentState === 'starting') this.session.abandonOpening();
    return this.inCallOrder(() => this.shutdown());
  }

  private async shutdown(): Promise<void> {
    if (this.currentState === 'stopped') {
      // The end of the last stop may still go on in the background: it closes the store itself,
      // after the calls it waits for (closed under them, their hand-backs would be lost).
      if (!(await this.waitFor(this.leaving, Math.max(LEAVE_MIN_MS, this.runtime.options.shutdownTimeoutMs)))) return;
      this.abandonWaiting();
      await this.stopStore();
      this.abandonWaiting(); // a runJob that waited for the store to open went on as it closed
      return;
    }
    this.currentState = 'stopping';
    const { clock, options } = this.runtime;
    const limitMs = options.shutdownTimeoutMs;
    // From now on a freed slot no longer starts a queued job, and jobs that a claim or fire in
    // flight brings back are handed back.
    this.jobProcessor.drain();
    // Both at once: while a fire is being written, the job loop must not make new claims. A pass
    // waiting for a store that does not answer is left to end in the background (`leave` waits
    // for it before the store closes).
    const loopsStopped = Promise.all([this.scheduleLoop.stop(), this.jobLoop.stop()]);
    await this.waitFor(loopsStopped, limitMs);
    this.runner.handBackWaiting();
    await this.waitForRunningJobs(limitMs);
    for (const id of this.runner.runningIds()) {
      this.runner.interrupt(id, 'shutdown', 'the scheduler stopped before the job finished; handed back');
    }
    const done = [...this.runner.runningJobs()].map((running) => running.done);
    // What is left talks to the store, and gets the shutdown timeout once more, in all: runs still
    // being recorded (the store unreachable) until then, after which they are given up (their
    // leases lapse and they run again elsewhere); then leaving the cluster and closing the store
    // (at least LEAVE_MIN_MS), which go on in the background if the store does not answer in time
    // (a start waits for them).
    const storeBegan = steadyNow(clock);
    await this.waitFor(Promise.all([...done, this.runner.allRecorded()]), limitMs);
    this.runner.giveUpRecording();
    // Counted as the scheduler's work, so that a test scheduler lets it finish before it moves its
    // clock on to the time limit below.
    const leaving = this.runtime.activity.track(() => this.leave(loopsStopped, done));
    this.leaving = leaving;
    this.leavingUnderWay = true;
    void leaving.finally(() => {
      if (this.leaving === leaving) this.leavingUnderWay = false;
    });
    const leaveLimitMs = Math.max(LEAVE_MIN_MS, limitMs - (steadyNow(clock) - storeBegan));
    if (!(await this.waitFor(leaving, leaveLimitMs))) {
      this.runtime.logger.warn(
        { node: this.nodeId, waitedMs: leaveLimitMs },
        'stopped without waiting any longer for the store to answer (unreachable?): this node leaves the cluster and closes its connections in the background; its leases lapse and other nodes take its jobs over',
      );
    }
    this.runtime.events.publish({
      type: 'scheduler.stopped',
      timestamp: new Date(this.now()),
      node: this.nodeId,
    });
    this.abandonWaiting(); // a runJob that waited for the store to open went on as it closed, too
    this.currentState = 'stopped';
  }

  /**
   * The end of a stop that talks to the store: the runs tried once more, the housekeeping ended,
   * the node's row removed and the store closed, after the loops' last passes. Never rejects.
   */
  private async leave(loopsStopped: Promise<unknown>, done: readonly Promise<unknown>[]): Promise<void> {
    await Promise.all([loopsStopped, ...done, this.runner.allRecorded()]);
    await this.maintenance.stop();
    await this.strays.idle();
    this.subscriptions.stop();
    try {
      await this.runtime.store.removeNode(this.nodeId);
    } catch (error) {
      this.runtime.reportError('leave the cluster', error);
    }
    try {
      await this.stopStore();
    } catch (error) {
      this.runtime.reportError('close the store', error);
    }
    // (runJob calls waiting are given up by the stop itself: one made after it returned is not.)
  }

  private abandonWaiting(): void {
    for (const outcome of this.waiting) {
      outcome.abandon(
        new SchedulerStateError(
          'stopped while runJob was waiting; the job is still stored and will run when a node takes it',
        ),
      );
    }
  }

  private async waitForRunningJobs(timeoutMs: number): Promise<void> {
    const running = [...this.runner.runningJobs()].map((job) => job.done);
    if (running.length === 0) return;
    await this.waitFor(Promise.all(running), timeoutMs);
  }

  /** Waits for `work`, at most `timeoutMs` on the scheduler's clock; true if it finished. */
  private async waitFor(work: Promise<unknown>, timeoutMs: number): Promise<boolean> {
    const { clock } = this.runtime;
    let timer: ReturnType<Clock['setTimer']> | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = clock.setTimer(() => resolve(false), timeoutMs);
    });
    const finished = await Promise.race([work.then(() => true), timeout]);
    if (timer !== undefined) clock.clearTimer(timer);
    return finished;
  }

  /**
   * Opens the store and applies its migrations without starting to process anything. Data
   * methods do this on first use; the synchronous transactional methods (`addJobSync`) need it done.
   */
  ready(): Promise<void> {
    return this.storeReady();
  }

  /** Opens the store (migrations, listeners) once, on first use. */
  protected storeReady(): Promise<void> {
    return this.session.open();
  }

  /**
   * `use()` on the store, once it is open (see `storeReady`). Every data method goes through here
   * or `withStoreAt`, so calls reach the store in the order they were made.
   */
  private withStore<R>(use: () => Promise<R>): Promise<R> {
    if (this.leftInBackground()) return this.leaving.then(() => this.withStore(use));
    return this.session.ready ? use() : this.session.afterOpen(use);
  }

  /**
   * A stop returned while the node still leaves the cluster in the background, and is closing the
   * store's connections: a call made now waits for that, then opens the store afresh, rather than
   * go to connections that are closing.
   */
  private leftInBackground(): boolean {
    return this.currentState === 'stopped' && this.leavingUnderWay;
  }

  /**
   * `use(make(now))` on the store, as `withStore`. The offset from the store's clock (this node's
   * own may be off) is known only once the store is open, so a first call makes its times (a delay,
   * a first fire time) again then; it makes them now too, so that bad input is refused before any
   * connection.
   */
  private withStoreAt<T, R>(make: (now: number) => T, use: (made: T) => Promise<R>): Promise<R> {
    const made = make(this.now());
    if (this.leftInBackground()) return this.leaving.then(() => this.withStoreAt(make, use));
    if (this.session.ready) return use(made);
    return this.session.afterOpen(() => use(make(this.now())));
  }

  private stopStore(): Promise<void> {
    return this.session.close();
  }

  /** Another node changed something the store could not tell us about precisely: look again. */
  private wakeLoops(): void {
    if (this.currentState !== 'running') return;
    this.scheduleLoop.timer.wake();
    this.jobLoop.timer.wake();
    if (this.runner.runningCount > 0) {
      this.maintenance
        .checkCancellations()
        .catch((error: unknown) => this.runtime.reportError('look for cancellations', error));
    }
  }

  /** Now on the store's clock (as far as this node knows it): schedules and jobs are in its time. */
  protected now(): number {
    return this.runtime.storeNow();
  }

  private requireTask(task: unknown): asserts task is string {
    if (typeof task === 'string' && this.runtime.tasks.has(task)) return; // registered names are valid
    validateTaskName(task);
    throw new TaskNotFoundError(task);
  }
}
