import { StoreError, ValidationError } from '../../errors.ts';
import type { EventBroker } from '../../events/event-broker.ts';
import {
  executionEvent,
  jobAddedEvent,
  type KairosEvent,
  scheduleAddEvent,
  scheduleUpdateEvent,
} from '../../events/event-types.ts';
import { consoleLogger, type Logger } from '../../common/logger.ts';
import type { Clock } from '../../time/clock.ts';
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
import { parseQueryTimeout } from './pg-connection-settings.ts';
import type { PostgresStoreOptions } from './postgres-store-options.ts';
import { PostgresConnections } from './postgres-connections.ts';
import { MIGRATE_ACTION, pgStoreError } from './pg-errors.ts';
import { JOB_COLUMNS, JOB_RECORDSET, jobsJson } from './pg-rows.ts';
import type { PgPool, PgPoolClient, PgQueryable } from './pg-types.ts';
import { TurnBatcher } from './turn-batcher.ts';
import { transactionClient } from './transaction-client.ts';
import { scheduleReadOnTx } from './tx-schedule-row.ts';
import { pruneInChunks } from '../prune-in-chunks.ts';
import { attemptKey, releasedAttempt, releaseEvent } from '../store-records.ts';
import { type PendingRelease, releaseJobs } from './postgres-jobs.ts';
import { JobAcquirer } from './job-acquirer.ts';
import { PostgresEventBroker } from './postgres-event-broker.ts';
import { heartbeat, nodes, queryExecutions, queryJobs } from './postgres-history.ts';
import * as leases from './postgres-leases.ts';
import { migratePostgres, STOPPED_WHILE_WAITING, startGivenUp } from './postgres-migrations.ts';
import * as schedules from './postgres-schedules.ts';

/**
 * A schema name: a lower-case identifier of at most 56 characters, so that the NOTIFY channel,
 * `kairos_<schema>`, stays within PostgreSQL's 63 (a longer channel name is refused at every NOTIFY).
 */
const SCHEMA = /^[a-z_][a-z0-9_]{0,55}$/;
/** Executions deleted per statement when pruning: a large prune never holds many row locks at once. */
const PRUNE_CHUNK = 5_000;

/**
 * Many nodes, one PostgreSQL database (DESIGN §6). Due schedules and jobs are claimed in batches
 * with `FOR UPDATE SKIP LOCKED` under leases judged by the database's clock; a fire's jobs and the
 * schedule's next fire time are written in one transaction; releases only touch rows the caller
 * still holds. Events travel between nodes over LISTEN/NOTIFY (see `PostgresEventBroker`).
 */
export class PostgresStore implements DataStore {
  /** Its answers travel over a network: see `DataStore.answersCanBeLost`. */
  readonly answersCanBeLost = true;
  readonly schemaName: string;
  private readonly s: string;
  private readonly connections: PostgresConnections;
  private readonly broker: PostgresEventBroker;
  private readonly contexts = new Set<StoreContext>();
  private migrated: Promise<void> | null = null;
  /** How to give up the start of each scheduler that waits for `migrated`. */
  private readonly startsWaiting = new Map<StoreContext, (reason: Error) => void>();
  /** Counts the stops that ended the store: a start in progress across one gives up. */
  private stops = 0;
  /** Testing aid: a clock that replaces the database's (`useClockForTests`). */
  private testClock: Clock | null = null;
  private readonly releases = new TurnBatcher<PendingRelease, boolean>((batch) => this.recordRuns(batch));
  private readonly jobAcquirer: JobAcquirer;
  /** Until a scheduler uses the store (`defaultEventBroker`, `start`): `kairos migrate`, say. */
  private logger: Logger = consoleLogger('warn');

  constructor(options: PostgresStoreOptions) {
    if (
      typeof options !== 'object' ||
      options === null ||
      (options.connectionString === undefined) === (options.pool === undefined)
    ) {
      throw new ValidationError('PostgresStore options', options, 'need exactly one of `connectionString` and `pool`');
    }
    const schema = options.schema ?? 'kairos';
    if (typeof schema !== 'string' || !SCHEMA.test(schema) || schema.startsWith('pg_')) {
      throw new ValidationError(
        'PostgresStore schema',
        schema,
        "must be a lower-case identifier (letters, digits, _) of at most 56 characters, not beginning with pg_ (PostgreSQL's own)",
      );
    }
    this.schemaName = schema;
    this.s = `"${schema}"`;
    const queryTimeoutMs = parseQueryTimeout(options.queryTimeout);
    this.connections = new PostgresConnections({
      ...options,
      queryTimeoutMs,
      schemaName: schema,
      logger: () => this.logger,
    });
    this.jobAcquirer = new JobAcquirer({
      s: this.s,
      schemaName: schema,
      db: () => this.db,
      nowSql: () => this.nowSql,
      run: (action, work) => this.run(action, work),
      transaction: (action, work) => this.transaction(action, work),
    });
    this.broker = new PostgresEventBroker({
      pool: this.connections.plain, // its NOTIFYs, with the same time limit as every statement
      connect: () => this.connections.listenClient(),
      checkEveryMs: queryTimeoutMs,
      channel: `kairos_${schema}`,
      // The scheduler's logger once one takes this broker as its own (`defaultEventBroker`).
      logger: {
        debug: (fields, message) => this.logger.debug(fields, message),
        info: (fields, message) => this.logger.info(fields, message),
        warn: (fields, message) => this.logger.warn(fields, message),
        error: (fields, message) => this.logger.error(fields, message),
      },
    });
  }

  async now(): Promise<Date> {
    const { rows } = await this.run('read the database clock', () =>
      this.db.query<{ now: Date }>(`SELECT ${this.nowSql} AS now`),
    );
    return rows[0]?.now ?? new Date();
  }

  defaultEventBroker(logger?: Logger): EventBroker {
    if (logger !== undefined) this.logger = logger;
    return this.broker;
  }

  /** Applies migrations (also what `kairos migrate --postgres` does); returns the versions applied. */
  async migrate(): Promise<number[]> {
    return this.migrateUnless(() => false);
  }

  /** `migrate`, given up while it waits for another node's migration once `stopped` says so. */
  private async migrateUnless(stopped: () => boolean): Promise<number[]> {
    try {
      return await migratePostgres(this.connections.untimed, this.s, this.schemaName, this.logger, undefined, stopped);
    } catch (error) {
      throw pgStoreError(error, MIGRATE_ACTION);
    }
  }

  /**
   * What a start does once per store: migrations, and checks of the connections' settings. A wait
   * for another node's migration is given up once the store stops, or once no scheduler starting
   * on it wants the start any more (all were stopped: `StoreContext.startUnwanted`).
   */
  private async prepare(logger: Logger): Promise<void> {
    const stops = this.stops;
    await this.migrateUnless(() => {
      // Asked whenever the migration waits: the schedulers stopped meanwhile wait no longer.
      for (const [context, giveUp] of this.startsWaiting) {
        if (context.startUnwanted?.() === true) giveUp(startGivenUp(STOPPED_WHILE_WAITING));
      }
      return stops !== this.stops || [...this.contexts].every((context) => context.startUnwanted?.() === true);
    });
    // Stopped meanwhile: going on would make a new pool that nothing ends.
    if (stops !== this.stops) throw new StoreError('PostgresStore: stopped while starting');
    await this.connections.checkSettings(logger);
  }

  async start(context: StoreContext): Promise<void> {
    // The scheduler's logger, also when it has an event broker of its own (it then never asks for
    // `defaultEventBroker`): migrations and connection warnings go where the application looks.
    this.logger = context.logger;
    this.contexts.add(context);
    const migrated = (this.migrated ??= this.prepare(context.logger).catch((error: unknown) => {
      if (this.migrated === migrated) this.migrated = null; // the next start tries again
      throw error;
    }));
    try {
      await this.untilMigrated(migrated, context);
    } catch (error) {
      this.contexts.delete(context);
      throw error;
    }
  }

  /** `migrated`, or a failure as soon as `prepare` gives up the start of `context` (see there). */
  private untilMigrated(migrated: Promise<void>, context: StoreContext): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.startsWaiting.set(context, reject);
      migrated.then(resolve, reject).finally(() => {
        if (this.startsWaiting.get(context) === reject) this.startsWaiting.delete(context);
      });
    });
  }

  async stop(context?: StoreContext): Promise<void> {
    if (context !== undefined) this.contexts.delete(context);
    else this.contexts.clear();
    if (this.contexts.size > 0) return;
    await this.releases.flush();
    // A scheduler starting meanwhile starts the broker before it joins the store: both stay open
    // for it, unless this is the stop of the whole store (no context).
    if (context !== undefined && (this.contexts.size > 0 || this.broker.users > 1)) return;
    this.stops++;
    await this.broker.close(); // sends its last notifications while the pool is still open
    this.migrated = null;
    await this.connections.end();
  }

  /**
   * Testing aid: judge time by `clock` instead of the database's clock, so a test can move it
   * (the conformance suite runs every store on a virtual clock). Never for production: the point
   * of the database clock is that nodes' clocks do not matter.
   */
  useClockForTests(clock: Clock): void {
    this.testClock = clock;
  }

  /** Where statements go. */
  private get db(): PgPool {
    return this.testClock === null ? this.connections.prepared : this.connections.plain;
  }

  /** SQL for "now": the database's clock (`now()`, the transaction's start), or the test clock. */
  private get nowSql(): string {
    return this.testClock === null ? 'now()' : `'${new Date(this.testClock.now()).toISOString()}'::timestamptz`;
  }

  // --- schedules

  async addSchedule(schedule: NewSchedule, conflict: ConflictPolicy, tx?: unknown): Promise<AddScheduleResult> {
    if (tx !== undefined) {
      const client = transactionClient(tx);
      const added = await this.run('add a schedule', () =>
        schedules.addSchedule(client, this.s, this.nowSql, schedule, conflict),
      );
      const result = { ...added, schedule: scheduleReadOnTx(added.schedule, schedule.id, tx) };
      const event = scheduleAddEvent(result);
      if (event !== null) await this.notifyInTransaction(client, event);
      return result;
    }
    const result = await this.run('add a schedule', () =>
      schedules.addSchedule(this.db, this.s, this.nowSql, schedule, conflict),
    );
    const event = scheduleAddEvent(result);
    if (event !== null) this.publish(event);
    return result;
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<ScheduleRecord> {
    const { before, after } = await this.transaction('update a schedule', (client) =>
      schedules.updateSchedule(client, this.s, this.nowSql, id, patch),
    );
    this.publish(scheduleUpdateEvent(before, after));
    return after;
  }

  async removeSchedules(ids: string[]): Promise<string[]> {
    const { rows } = await this.run('remove schedules', () =>
      this.db.query<{ id: string }>(`DELETE FROM ${this.s}.schedules WHERE id = ANY($1::text[]) RETURNING id`, [ids]),
    );
    const removed = rows.map((row) => row.id);
    for (const scheduleId of removed) this.publish({ type: 'schedule.removed', timestamp: new Date(), scheduleId });
    return removed;
  }

  async getSchedules(query: ScheduleQuery): Promise<Page<ScheduleRecord>> {
    return this.run('list schedules', () => schedules.querySchedules(this.db, this.s, query));
  }

  async acquireSchedules(node: string, leaseMs: number, limit: number, aheadMs = 0): Promise<AcquiredSchedules> {
    return this.run('acquire schedules', () =>
      schedules.acquireSchedules(this.db, this.s, this.nowSql, node, leaseMs, limit, aheadMs),
    );
  }

  async releaseSchedules(
    node: string,
    releases: ScheduleRelease[],
    start?: StartFiredJobs,
  ): Promise<ReleasedSchedules> {
    if (releases.length === 0) return { jobs: [], executions: [], started: [] };
    const result = await this.transaction('release schedules', (client) =>
      schedules.releaseSchedules(client, this.s, this.nowSql, node, releases, start),
    );
    const timestamp = new Date();
    for (const job of result.jobs) this.publish(jobAddedEvent(job, timestamp));
    for (const execution of result.executions) this.publish(executionEvent(execution, null, timestamp));
    return result;
  }

  async nextScheduleFireTime(): Promise<Date | null> {
    return this.run('find the next fire time', () => schedules.nextScheduleFireTime(this.db, this.s));
  }

  // --- jobs

  async addJob(job: JobRecord, tx?: unknown): Promise<void> {
    const client = tx === undefined ? this.db : transactionClient(tx);
    const { rowCount } = await this.run('add a job', () =>
      client.query(
        `INSERT INTO ${this.s}.jobs (${JOB_COLUMNS})
         SELECT id, task, COALESCE(args, 'null'::json), schedule_id, fire_time, run_at, start_deadline, attempt, max_attempts,
           abandon_retries, max_instances, created_at
         FROM json_to_recordset($1::json) AS r(${JOB_RECORDSET})
         ON CONFLICT DO NOTHING`,
        [jobsJson([job])],
      ),
    );
    if (rowCount === 0) {
      throw new ValidationError(
        'job id',
        job.id,
        'is already used by another job (or its schedule already has a job for that fire time)',
      );
    }
    // In the caller's transaction the announcement (and the wake-up of every node) goes out on commit.
    if (tx !== undefined) await this.notifyInTransaction(client, jobAddedEvent(job, new Date()));
    else this.publish(jobAddedEvent(job, new Date()));
  }

  acquireJobs(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs> {
    return this.jobAcquirer.acquire(node, options);
  }

  /** Releases made in the same event-loop turn go to the database as one statement. */
  releaseJob(node: string, jobId: string, release: JobRelease): Promise<boolean> {
    return this.releases.add({ node, jobId, release });
  }

  async nextJobTimes(tasks: readonly TaskLimit[], after: Date): Promise<JobWakeTimes> {
    return this.run('find the next job time', () => leases.nextJobTimes(this.db, this.s, tasks, after));
  }

  /**
   * Renewals go on a connection of their own (see `PostgresConnections.leaseLane`), and one is
   * given up after a quarter of the lease (or `queryTimeout`, if shorter), with its connection: the
   * node tries again soon, on a new one, while the lease still holds. One that waited
   * `queryTimeout` on a silent connection would let the lease run out. (A renewal given up on that
   * the server still carries out later only extends the lease: at worst, of a job this node has
   * stopped meanwhile (see LeaseFence), whose takeover then waits for that lease.)
   */
  async extendLeases(node: string, leaseMs: number, jobs: readonly LeaseRef[]): Promise<LeaseStatus> {
    const db = this.connections.leaseLane(this.testClock === null, Math.max(1, Math.floor(leaseMs / 4)));
    return this.run('renew leases', () => leases.extendLeases(db, this.s, this.nowSql, node, leaseMs, jobs));
  }

  async handBackStrayJobs(
    node: string,
    held: readonly LeaseRef[],
    minLeaseLeftMs: number,
    claimedSince: Date,
  ): Promise<JobRecord[]> {
    return this.run('hand back stray jobs', () =>
      leases.handBackStrayJobs(this.db, this.s, this.nowSql, node, held, minLeaseLeftMs, claimedSince),
    );
  }

  async reapAbandoned(): Promise<ExecutionRecord[]> {
    const reaped = await this.transaction('take over abandoned jobs', (client) =>
      leases.reapAbandoned(client, this.s, this.nowSql),
    );
    for (const entry of reaped)
      this.publish(executionEvent(entry.execution, entry.retryAt, entry.execution.finishedAt));
    return reaped.map((entry) => entry.execution);
  }

  async requestCancel(jobId: string, node: string): Promise<CancelResult> {
    const result = await this.transaction('cancel a job', (client) =>
      leases.requestCancel(client, this.s, this.nowSql, jobId, node),
    );
    if (result.status === 'cancelled')
      this.publish(executionEvent(result.execution, null, result.execution.finishedAt));
    if (result.status === 'requested') {
      this.publish({ type: 'job.cancel_requested', timestamp: new Date(), jobId, node: result.node });
    }
    return result;
  }

  async getJobs(query: JobQuery): Promise<Page<JobRecord>> {
    return this.run('list jobs', () => queryJobs(this.db, this.s, query));
  }

  /** One statement for a turn's releases; then their events, each with its retry time if still held. */
  private async recordRuns(batch: readonly PendingRelease[]): Promise<boolean[]> {
    const held = await this.run('record job runs', () => releaseJobs(this.db, this.s, this.nowSql, batch));
    return batch.map((item) => {
      const wasHeld = held.has(attemptKey(item.jobId, releasedAttempt(item.release)));
      const event = releaseEvent(item.release, wasHeld);
      if (event !== null) this.publish(event);
      return wasHeld;
    });
  }

  // --- history and nodes

  async getExecutions(query: ExecutionQuery): Promise<Page<ExecutionRecord>> {
    return this.run('list executions', () => queryExecutions(this.db, this.s, query));
  }

  async pruneExecutions(olderThan: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return pruneInChunks(limit, PRUNE_CHUNK, async (chunk) => {
      const { rowCount } = await this.run('prune executions', () =>
        this.db.query(
          `DELETE FROM ${this.s}.executions WHERE id IN (SELECT id FROM ${this.s}.executions WHERE finished_at < $1 ORDER BY finished_at LIMIT $2)`,
          [olderThan, chunk],
        ),
      );
      return rowCount ?? 0;
    });
  }

  async heartbeat(node: NodeInfo): Promise<void> {
    await this.run('heartbeat', () => heartbeat(this.db, this.s, this.nowSql, node));
  }

  async removeNode(nodeId: string): Promise<void> {
    await this.run('leave the cluster', () => this.db.query(`DELETE FROM ${this.s}.nodes WHERE id = $1`, [nodeId]));
  }

  async getNodes(): Promise<NodeInfo[]> {
    return this.run('list nodes', () => nodes(this.db, this.s));
  }

  // --- plumbing

  private async run<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw pgStoreError(error, action);
    }
  }

  /** Runs `work` in a transaction of its own (see `PostgresConnections.transaction`). */
  private transaction<T>(action: string, work: (client: PgPoolClient) => Promise<T>): Promise<T> {
    return this.connections.transaction(this.testClock === null, action, work);
  }

  private async notifyInTransaction(client: PgQueryable, event: KairosEvent): Promise<void> {
    await this.run('announce in the transaction', () =>
      client.query('SELECT pg_notify($1, $2)', [
        `kairos_${this.schemaName}`,
        this.broker.serializeForTransaction(event),
      ]),
    );
  }

  private publish(event: KairosEvent): void {
    const brokers = new Set([...this.contexts].map((context) => context.events));
    if (brokers.size === 0) brokers.add(this.broker);
    for (const broker of brokers) broker.publish(event);
  }
}
