import { KairosError, ValidationError } from '../../errors.ts';
import type { EventBroker } from '../../events/event-broker.ts';
import {
  executionEvent,
  jobAddedEvent,
  type KairosEvent,
  scheduleAddEvent,
  scheduleUpdateEvent,
} from '../../events/event-types.ts';
import { LocalEventBroker } from '../../events/local-event-broker.ts';
import { type Clock, systemClock } from '../../time/clock.ts';
import { type Duration, parseDuration } from '../../time/duration.ts';
import type {
  AcquiredJobs,
  AcquiredSchedules,
  AcquireJobsOptions,
  AddScheduleResult,
  CancelResult,
  ConflictPolicy,
  DataStore,
  JobRelease,
  JobWakeTimes,
  LeaseRef,
  LeaseStatus,
  NewSchedule,
  ReleasedSchedules,
  SchedulePatch,
  ScheduleRelease,
  StartFiredJobs,
  StoreContext,
  TaskLimit,
} from '../data-store.ts';
import type { ExecutionQuery, JobQuery, Page, ScheduleQuery } from '../queries.ts';
import type { ExecutionRecord, JobRecord, NodeInfo, ScheduleRecord } from '../records.ts';
import {
  abandonedExecution,
  abandonedRequeue,
  cancelledBeforeStartExecution,
  admitFiredJobs,
  firedJobToStart,
  handedBackClaim,
  releasedAttempt,
  releaseEvent,
} from '../store-records.ts';
import { ChangeWatcher } from './change-watcher.ts';
import { SqliteAccess } from './sqlite-access.ts';
import { WriteBatcher } from './write-batcher.ts';
import { assertConnection, type SqliteDriverChoice } from './open-sqlite.ts';
import { type BetterSqlite3Database, type NodeSqliteDatabase, storeErrorFrom } from './sqlite-connection.ts';
import { PRUNE_CHUNK, SqliteHistoryTable } from './sqlite-history-table.ts';
import { SqliteJobTable } from './sqlite-job-table.ts';
import { migrate } from './sqlite-migrations.ts';
import { SqliteScheduleTable } from './sqlite-schedule-table.ts';
import { pruneInChunks } from '../prune-in-chunks.ts';

export interface SqliteStoreOptions {
  /** The database file (created if missing), or ':memory:'. Give this or `database`. */
  path?: string;
  /** The application's own connection (better-sqlite3 `Database` or `node:sqlite` `DatabaseSync`): the jobs live in its file. */
  database?: BetterSqlite3Database | NodeSqliteDatabase;
  /** (Default: 'auto': better-sqlite3 when installed, else Node's built-in `node:sqlite`.) */
  driver?: SqliteDriverChoice;
  /** Prefix of Kairos's tables, so they sit beside the application's. (Default: 'kairos_'.) */
  tablePrefix?: string;
  /** How long a statement waits for another connection's write lock. (Default: '5s'.) */
  busyTimeout?: Duration;
  /** How often changes by other processes are looked for (a cheap `PRAGMA data_version`). (Default: '200ms'.) */
  watchInterval?: Duration;
  /** Switch the file to write-ahead logging, which lets readers and the writer work at once. (Default: true.) */
  wal?: boolean;
}

const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,30}$/;

/**
 * Kairos's embedded default: everything in one SQLite file, safe for several processes on one
 * machine (a PM2 cluster), with history and transactional enqueue on the application's own
 * connection. Writes are `BEGIN IMMEDIATE` transactions: SQLite runs one writer at a time, so a
 * lease taken or a job counted inside one is exact across processes.
 */
export class SqliteStore implements DataStore {
  private readonly options: Required<Pick<SqliteStoreOptions, 'driver' | 'tablePrefix' | 'wal'>> & {
    path: string | null;
    database: BetterSqlite3Database | NodeSqliteDatabase | null;
    busyTimeoutMs: number;
    watchIntervalMs: number;
  };
  private readonly schedules: SqliteScheduleTable;
  private readonly jobs: SqliteJobTable;
  private readonly history: SqliteHistoryTable;
  private readonly broker = new LocalEventBroker();
  private readonly contexts = new Set<StoreContext>();
  private readonly access: SqliteAccess;
  private watcher: ChangeWatcher | null = null;
  private clock: Clock = systemClock;
  /** Job releases of one event-loop turn share a transaction (see WriteBatcher). */
  private readonly releases: WriteBatcher;

  constructor(options: SqliteStoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError('SqliteStore options', options, 'must be an object like { path: "kairos.db" }');
    }
    const hasPath = options.path !== undefined;
    const hasDatabase = options.database !== undefined;
    if (hasPath === hasDatabase) {
      throw new ValidationError('SqliteStore options', options, 'need exactly one of `path` and `database`');
    }
    if (hasPath && (typeof options.path !== 'string' || options.path.length === 0)) {
      throw new ValidationError('SqliteStore path', options.path, 'must be a non-empty file path or ":memory:"');
    }
    const tablePrefix = options.tablePrefix ?? 'kairos_';
    if (typeof tablePrefix !== 'string' || !PREFIX.test(tablePrefix)) {
      throw new ValidationError(
        'SqliteStore tablePrefix',
        tablePrefix,
        'must be 1-31 letters, digits or _ (not starting with a digit)',
      );
    }
    const driver = options.driver ?? 'auto';
    if (!['auto', 'better-sqlite3', 'node:sqlite'].includes(driver)) {
      throw new ValidationError('SqliteStore driver', driver, "must be 'auto', 'better-sqlite3' or 'node:sqlite'");
    }
    this.options = {
      path: options.path ?? null,
      database: hasDatabase ? assertConnection(options.database) : null,
      driver,
      tablePrefix,
      wal: options.wal ?? true,
      busyTimeoutMs: parseDuration('SqliteStore busyTimeout', options.busyTimeout ?? '5s'),
      watchIntervalMs: Math.max(10, parseDuration('SqliteStore watchInterval', options.watchInterval ?? '200ms')),
    };
    this.access = new SqliteAccess(
      this.options,
      () => this.contexts.size > 0,
      () => this.clockNow(),
    );
    this.releases = new WriteBatcher(
      () => this.access.openConnection('record a job run'),
      'record a job run',
      this.access.lock,
    );
    this.schedules = new SqliteScheduleTable(tablePrefix);
    this.jobs = new SqliteJobTable(tablePrefix);
    this.history = new SqliteHistoryTable(tablePrefix);
  }

  /** Opens the database and applies migrations (also what `kairos migrate` does); returns the versions applied. */
  migrate(): number[] {
    const db = this.access.connection();
    try {
      return migrate(db, this.options.tablePrefix);
    } catch (error) {
      if (error instanceof KairosError) throw error;
      throw storeErrorFrom(error, 'apply migrations', db.path);
    }
  }

  async start(context: StoreContext): Promise<void> {
    const first = this.contexts.size === 0;
    this.contexts.add(context);
    if (!first) return;
    this.clock = context.clock;
    try {
      this.migrate();
      const db = this.access.connection();
      // (A watcher is still there when this start came while a stop waited for pending writes.)
      if (db.path !== null && this.watcher === null) {
        this.watcher = new ChangeWatcher(
          db,
          this.options.watchIntervalMs,
          () => this.wakeAll(),
          (error) => context.logger.warn({ error: String(error) }, 'SqliteStore: could not look for changes'),
        );
        this.watcher.start();
      }
    } catch (error) {
      this.contexts.delete(context);
      this.close();
      throw error;
    }
  }

  async stop(context?: StoreContext): Promise<void> {
    if (context !== undefined) this.contexts.delete(context);
    else this.contexts.clear();
    if (this.contexts.size > 0) return;
    await this.access.writesDone(); // writes asked for before the stop, waiting for the lock
    if (this.contexts.size === 0) this.close(); // unless a scheduler started again meanwhile
  }

  defaultEventBroker(): EventBroker {
    return this.broker;
  }

  // --- schedules

  async addSchedule(schedule: NewSchedule, conflict: ConflictPolicy, tx?: unknown): Promise<AddScheduleResult> {
    if (tx !== undefined) return this.addScheduleSync(schedule, conflict, tx);
    const result = await this.access.writeSoon('add a schedule', (db, now) =>
      this.schedules.add(db, schedule, conflict, now),
    );
    const event = scheduleAddEvent(result);
    if (event !== null) this.publish(event);
    return result;
  }

  /** Adds a schedule on the application's connection, inside its open transaction. */
  addScheduleSync(schedule: NewSchedule, conflict: ConflictPolicy, tx: unknown): AddScheduleResult {
    const db = this.access.transactionOf(tx);
    try {
      return this.schedules.add(db, schedule, conflict, this.clockNow());
    } catch (error) {
      if (error instanceof KairosError) throw error;
      throw storeErrorFrom(error, 'add a schedule in the application transaction', db.path);
    } finally {
      this.lookAfterCommit();
    }
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<ScheduleRecord> {
    const { before, after } = await this.access.writeSoon('update a schedule', (db, now) =>
      this.schedules.update(db, id, patch, now),
    );
    this.publish(scheduleUpdateEvent(before, after));
    return after;
  }

  async removeSchedules(ids: string[]): Promise<string[]> {
    const removed = await this.access.writeSoon('remove schedules', (db) => this.schedules.remove(db, ids));
    for (const scheduleId of removed) this.publish({ type: 'schedule.removed', timestamp: this.date(), scheduleId });
    return removed;
  }

  async getSchedules(query: ScheduleQuery): Promise<Page<ScheduleRecord>> {
    return this.access.read('list schedules', (db) => this.schedules.query(db, query));
  }

  async acquireSchedules(node: string, leaseMs: number, limit: number, aheadMs = 0): Promise<AcquiredSchedules> {
    return this.access.writeSoon('acquire schedules', (db, now) => ({
      now: new Date(now),
      schedules: this.schedules.acquire(db, node, leaseMs, limit, now, aheadMs, this.jobs.t),
    }));
  }

  async releaseSchedules(
    node: string,
    releases: ScheduleRelease[],
    start?: StartFiredJobs,
  ): Promise<ReleasedSchedules> {
    const result = await this.access.writeSoon('release schedules', (db, now) => {
      const released: ReleasedSchedules = { jobs: [], executions: [], started: [] };
      for (const release of releases) {
        const held = this.schedules.heldBy(db, node, release.scheduleId);
        if (held === undefined) continue; // removed meanwhile, or its lease was taken over
        if (release.jobs.length > 0) {
          const active = this.jobs.activeCount(db, release.scheduleId);
          const { admitted, skipped } = admitFiredJobs(release.jobs, active, held.maxInstances, node, new Date(now));
          released.executions.push(...skipped);
          const added = admitted.filter((job) => this.jobs.insert(db, job));
          const first = firedJobToStart(added, start);
          const started = first && start && this.jobs.claim(db, first.id, node, start.leaseMs, now);
          if (started) {
            released.started.push(started);
            added[0] = started;
          }
          released.jobs.push(...added);
        }
        released.executions.push(...release.missed);
        this.schedules.release(
          db,
          node,
          release.scheduleId,
          {
            revision: release.revision,
            next: release.nextFireTime,
            last: release.lastFireTime,
            brokenReason: release.brokenReason,
          },
          now,
        );
      }
      for (const execution of released.executions) this.history.append(db, execution);
      return released;
    });
    const timestamp = this.date();
    for (const job of result.jobs) this.publish(jobAddedEvent(job, timestamp));
    for (const execution of result.executions) this.publish(executionEvent(execution, null, timestamp));
    return result;
  }

  async nextScheduleFireTime(): Promise<Date | null> {
    const next = this.access.read('find the next fire time', (db) => this.schedules.nextFireTime(db));
    return next === null ? null : new Date(next);
  }

  // --- jobs

  async addJob(job: JobRecord, tx?: unknown): Promise<void> {
    if (tx !== undefined) return this.addJobSync(job, tx);
    if (!(await this.access.writeSoon('add a job', (db) => this.jobs.insert(db, job)))) throw duplicateJob(job);
    this.publish(jobAddedEvent(job, this.date()));
  }

  /**
   * Adds a job on the application's connection, inside its open (synchronous) transaction: the
   * job exists only if that transaction commits. No `job.added` event is published, since a
   * rolled-back job must never be announced; the commit itself wakes the schedulers.
   */
  addJobSync(job: JobRecord, tx: unknown): void {
    const db = this.access.transactionOf(tx);
    let inserted: boolean;
    try {
      inserted = this.jobs.insert(db, job);
    } catch (error) {
      if (error instanceof KairosError) throw error;
      throw storeErrorFrom(error, 'add a job in the application transaction', db.path);
    } finally {
      this.lookAfterCommit();
    }
    if (!inserted) throw duplicateJob(job);
  }

  async acquireJobs(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs> {
    return this.access.writeSoon('acquire jobs', (db, now) => ({
      now: new Date(now),
      jobs: this.jobs.acquire(db, node, options.leaseMs, options.limit, options.tasks, now, options.startNow),
    }));
  }

  async releaseJob(node: string, jobId: string, release: JobRelease): Promise<boolean> {
    this.access.started('record a job run');
    const { execution } = release;
    const held = await this.releases.write((db) => {
      const { requeue } = release;
      const now = this.clockNow();
      const released = this.jobs.finish(
        db,
        node,
        jobId,
        releasedAttempt(release),
        handedBackClaim(release),
        requeue,
        now,
      );
      if (execution === null) return released;
      // Only a held attempt is recorded (see DataStore.releaseJob); one recorded already was released
      // by an earlier try of this release.
      if (released) this.history.append(db, execution);
      return released || this.history.has(db, execution.id);
    });
    const event = releaseEvent(release, held);
    if (event !== null) this.publish(event);
    return held;
  }

  async handBackStrayJobs(
    node: string,
    held: readonly LeaseRef[],
    minLeaseLeftMs: number,
    claimedSince: Date,
  ): Promise<JobRecord[]> {
    return this.access.writeSoon('hand back stray jobs', (db, now) =>
      this.jobs.handBackStray(db, node, held, now + minLeaseLeftMs, claimedSince.getTime()),
    );
  }

  async nextJobTimes(tasks: readonly TaskLimit[], after: Date): Promise<JobWakeTimes> {
    return this.access.read('find the next job time', (db) => {
      const runAt = this.jobs.nextRunTime(db, tasks, after.getTime());
      const leaseExpiry = this.jobs.earliestLeaseExpiry(db);
      return {
        runAt: runAt === null ? null : new Date(runAt),
        leaseExpiry: leaseExpiry === null ? null : new Date(leaseExpiry),
      };
    });
  }

  async extendLeases(node: string, leaseMs: number, jobs: readonly LeaseRef[]): Promise<LeaseStatus> {
    return this.access.writeSoon('renew leases', (db, now) => this.jobs.extend(db, node, leaseMs, jobs, now));
  }

  async reapAbandoned(): Promise<ExecutionRecord[]> {
    const reaped = await this.access.writeSoon('take over abandoned jobs', (db, now) => {
      const done: Array<{ execution: ExecutionRecord; retryAt: Date | null }> = [];
      for (const job of this.jobs.expired(db, now)) {
        const execution = abandonedExecution(job, new Date(now));
        const requeue = abandonedRequeue(job, now);
        if (requeue) this.jobs.requeue(db, job.id, requeue, now);
        else this.jobs.delete(db, job.id);
        this.history.append(db, execution);
        done.push({ execution, retryAt: requeue?.runAt ?? null });
      }
      return done;
    });
    const timestamp = this.date();
    for (const { execution, retryAt } of reaped) this.publish(executionEvent(execution, retryAt, timestamp));
    return reaped.map((entry) => entry.execution);
  }

  async getJobs(query: JobQuery): Promise<Page<JobRecord>> {
    return this.access.read('list jobs', (db) => this.jobs.query(db, query));
  }

  async requestCancel(jobId: string, node: string): Promise<CancelResult> {
    const result = await this.access.writeSoon('cancel a job', (db, now): CancelResult => {
      const job = this.jobs.get(db, jobId);
      if (job === undefined) return { status: 'not_found' };
      if (job.status === 'pending') {
        this.jobs.delete(db, jobId);
        const execution = cancelledBeforeStartExecution(job, node, new Date(now));
        this.history.append(db, execution);
        return { status: 'cancelled', execution };
      }
      this.jobs.markCancelRequested(db, jobId);
      return { status: 'requested', node: job.acquiredBy };
    });
    if (result.status === 'cancelled') this.publish(executionEvent(result.execution, null, this.date()));
    if (result.status === 'requested')
      this.publish({ type: 'job.cancel_requested', timestamp: this.date(), jobId, node: result.node });
    return result;
  }

  // --- history and nodes

  async getExecutions(query: ExecutionQuery): Promise<Page<ExecutionRecord>> {
    return this.access.read('list executions', (db) => this.history.query(db, query));
  }

  async pruneExecutions(olderThan: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    // One transaction per chunk: other processes get the write lock in between.
    return pruneInChunks(
      limit,
      PRUNE_CHUNK,
      (chunk) =>
        this.access.writeSoon('prune executions', (db) => this.history.pruneChunk(db, olderThan.getTime(), chunk)),
      () => new Promise((resolve) => setImmediate(resolve)),
    );
  }

  async heartbeat(node: NodeInfo): Promise<void> {
    await this.access.writeSoon('heartbeat', (db, now) => this.history.heartbeat(db, node, now));
  }

  async removeNode(nodeId: string): Promise<void> {
    await this.access.writeSoon('leave the cluster', (db) => this.history.removeNode(db, nodeId));
  }

  async getNodes(): Promise<NodeInfo[]> {
    return this.access.read('list nodes', (db) => this.history.nodes(db));
  }

  // --- plumbing

  private close(): void {
    // Runs recorded in this turn must reach the file before it closes.
    if (this.access.isOpen) this.releases.flush(true);
    this.watcher?.stop();
    this.watcher = null;
    this.access.close();
  }

  /** After the application's synchronous transaction ends, look at once whether it committed. */
  private lookAfterCommit(): void {
    const watcher = this.watcher;
    if (watcher !== null) setImmediate(() => watcher.check());
    else setImmediate(() => this.wakeAll());
  }

  private wakeAll(): void {
    for (const context of this.contexts) context.wake();
  }

  private clockNow(): number {
    return this.clock.now();
  }

  private date(): Date {
    return new Date(this.clockNow());
  }

  private publish(event: KairosEvent): void {
    const brokers = new Set([...this.contexts].map((context) => context.events));
    for (const broker of brokers) broker.publish(event);
  }
}

function duplicateJob(job: JobRecord): ValidationError {
  return new ValidationError(
    'job id',
    job.id,
    'is already used by another job (or its schedule already has a job for that fire time)',
  );
}
