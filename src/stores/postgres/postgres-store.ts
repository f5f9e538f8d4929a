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
import type { Duration } from '../../time/duration.ts';
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
import { checkDateStyle, ownPoolConfig, parseQueryTimeout, safeStatementLimit } from './pg-connection-settings.ts';
import { isQueryTimeout, pgStoreError, refusedStartupSetting } from './pg-errors.ts';
import { JOB_COLUMNS, JOB_RECORDSET, jobsJson } from './pg-rows.ts';
import { listenClient, loadPg } from './pg-driver.ts';
import { isQueryable, type PgPool, type PgPoolClient, type PgQueryable } from './pg-types.ts';
import { TurnBatcher } from './turn-batcher.ts';
import { transactionClient } from './transaction-client.ts';
import { kairosTypeParsers } from './pg-result-types.ts';
import { isStaleStatement, kairosPool, STALE_STATEMENT_TRIES, StatementNames } from './prepared-statements.ts';
import { pruneInChunks } from '../prune-in-chunks.ts';
import { releaseEvent } from '../store-records.ts';
import { acquireCappedJobs, acquireUncappedJobs, type PendingRelease, releaseJobs } from './postgres-jobs.ts';
import { PostgresEventBroker } from './postgres-event-broker.ts';
import { heartbeat, nodes, queryExecutions, queryJobs } from './postgres-history.ts';
import * as leases from './postgres-leases.ts';
import { migratePostgres } from './postgres-migrations.ts';
import * as schedules from './postgres-schedules.ts';

export interface PostgresStoreOptions {
  /** `postgres://user@host:5432/db`. Give this or `pool`. */
  connectionString?: string;
  /** An existing `pg` Pool of the application. */
  pool?: PgPool;
  /**
   * Where the LISTEN connection goes, when not where the pool's connections go. LISTEN needs a
   * session of its own: behind a pooler in transaction mode (PgBouncer), which hands each
   * transaction to any server connection, point this straight at PostgreSQL. (Default: the
   * pool's own connection settings.)
   */
  listenConnectionString?: string;
  /** Schema of Kairos's tables, created if missing. (Default: 'kairos'.) */
  schema?: string;
  /** Connections in the pool Kairos creates from `connectionString`. (Default: 10.) */
  poolSize?: number;
  /**
   * Send statements as named prepared statements, parsed and planned once per connection. Turn
   * off behind PgBouncer in transaction mode unless it tracks prepared statements
   * (`max_prepared_statements`, PgBouncer 1.21+). (Default: true.)
   */
  preparedStatements?: boolean;
  /**
   * How long Kairos waits for the database to answer one of its statements before it takes the
   * connection for dead, drops it and tries again on a new one; also how long it waits for a new
   * connection of its own pool, and how often it checks that its LISTEN connection still answers.
   * A failover or a firewall can leave connections open but silent; without a limit a node would
   * wait on them for a quarter of an hour, or for ever. `null`: wait for ever. Migrations are not
   * limited. (Default: '30s'.)
   */
  queryTimeout?: Duration | null;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
/** Executions deleted per statement when pruning: a large prune never holds many row locks at once. */
const PRUNE_CHUNK = 5_000;

/**
 * Many nodes, one PostgreSQL database (DESIGN §6). Due schedules and jobs are claimed in batches
 * with `FOR UPDATE SKIP LOCKED` under leases judged by the database's clock; a fire's jobs and the
 * schedule's next fire time are written in one transaction; releases only touch rows the caller
 * still holds. Events travel between nodes over LISTEN/NOTIFY (see `PostgresEventBroker`).
 */
export class PostgresStore implements DataStore {
  readonly schemaName: string;
  private readonly s: string;
  /** The pool in use: the application's, or one of this store's own (made again after a stop ended it). */
  private pool: PgPool;
  /** Makes the store's own pool (given a connection string); null when the application gave its pool. */
  private readonly makePool: (() => PgPool) | null;
  private poolEnded = false;
  /**
   * Whether the store's own pool sends a `statement_timeout` as its connections start; turned off
   * for good once a pooler refuses it (see `connectWithoutStatementTimeout`).
   */
  private sendStatementTimeout = true;
  /** `pool`, sending named statements unless told otherwise, always with Kairos's result parsers. */
  private readonly preparedPool: PgPool;
  /** The same, never named: a test clock puts changing literals in the SQL. */
  private readonly plainPool: PgPool;
  private readonly untimedPool: PgPool;
  /** Makes pools like `preparedPool` and `plainPool` with a limit of their own (see `dbWithin`). */
  private readonly poolWithLimit: (named: boolean, limit: { timeoutMs: number | null }) => PgPool;
  /** `queryTimeout` as asked for (null: none, or too long for a timer). */
  private readonly queryTimeoutMs: number | null;
  /** The limit Kairos's statements are sent with: on the store's own pool from the start, on the application's once it is known to be safe. */
  private readonly statementLimit: { timeoutMs: number | null };
  private readonly broker: PostgresEventBroker;
  private readonly contexts = new Set<StoreContext>();
  private migrated: Promise<void> | null = null;
  /** Counts the stops that ended the store: a start in progress across one gives up. */
  private stops = 0;
  /** Testing aid: a clock that replaces the database's (`useClockForTests`). */
  private testClock: Clock | null = null;
  private readonly releases = new TurnBatcher<PendingRelease, boolean>((batch) => this.recordRuns(batch));
  /** Capped jobs were due but not all handed out at the last acquire. */
  private cappedWaiting = false;
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
    if (typeof schema !== 'string' || !SCHEMA.test(schema)) {
      throw new ValidationError('PostgresStore schema', schema, 'must be a lower-case identifier (letters, digits, _)');
    }
    this.schemaName = schema;
    this.s = `"${schema}"`;
    if (
      options.listenConnectionString !== undefined &&
      (typeof options.listenConnectionString !== 'string' || options.listenConnectionString.length === 0)
    ) {
      throw new ValidationError(
        'PostgresStore listenConnectionString',
        options.listenConnectionString,
        'must be a postgres:// URL',
      );
    }
    const listenAt = options.listenConnectionString ?? options.connectionString;
    const queryTimeoutMs = parseQueryTimeout(options.queryTimeout);
    this.queryTimeoutMs = queryTimeoutMs;
    this.statementLimit = { timeoutMs: options.pool === undefined ? queryTimeoutMs : null };
    if (options.pool !== undefined) {
      if (!isQueryable(options.pool) || typeof options.pool.connect !== 'function') {
        throw new ValidationError('PostgresStore pool', options.pool, 'must be a pg Pool');
      }
      this.pool = options.pool;
      this.makePool = null;
    } else {
      if (typeof options.connectionString !== 'string' || options.connectionString.length === 0) {
        throw new ValidationError(
          'PostgresStore connectionString',
          options.connectionString,
          'must be a postgres:// URL',
        );
      }
      const connectionString = options.connectionString;
      const max = options.poolSize ?? 10;
      if (!Number.isInteger(max) || max < 1) {
        throw new ValidationError('PostgresStore poolSize', options.poolSize, 'must be a whole number of at least 1');
      }
      this.makePool = () => {
        const pool = new (loadPg().Pool)(
          ownPoolConfig(connectionString, max, queryTimeoutMs, this.sendStatementTimeout),
        );
        // An idle pooled connection that dies (a database restart) must not crash the process.
        pool.on('error', () => {});
        return pool;
      };
      this.pool = this.makePool();
    }
    if (options.preparedStatements !== undefined && typeof options.preparedStatements !== 'boolean') {
      throw new ValidationError(
        'PostgresStore preparedStatements',
        options.preparedStatements,
        'must be true or false',
      );
    }
    const types = kairosTypeParsers(loadPg().types);
    // Through `live`, so that a pool made again (after a stop, or without a refused setting) is the one used.
    const live: PgPool = {
      query: (text, values) => this.refusedTimeoutAside(() => this.currentPool().query(text, values)),
      connect: () => this.refusedTimeoutAside(() => this.currentPool().connect()),
      end: () => this.currentPool().end(),
      on: (event, listener) => this.currentPool().on(event, listener),
    };
    const names =
      options.preparedStatements === false
        ? null
        : new StatementNames(() =>
            this.logger.warn(
              { schema },
              'PostgresStore: named statements keep being refused (unknown on one connection, defined already on another): a pooler in transaction mode (PgBouncer before 1.21, or without max_prepared_statements)? Sending them unnamed from now on; set preparedStatements: false to start that way',
            ),
          );
    this.poolWithLimit = (named, limit) => kairosPool(live, { types, names: named ? names : null, limit });
    this.preparedPool = this.poolWithLimit(true, this.statementLimit);
    this.plainPool = this.poolWithLimit(false, this.statementLimit);
    // Migrations (an index over a large table takes as long as it takes), and reading settings
    // before the limit is known to be safe.
    this.untimedPool = this.poolWithLimit(false, { timeoutMs: null });
    // An idle pooled connection that dies (a database restart) must not crash the process.
    if (this.makePool === null) this.pool.on('error', () => {});
    this.broker = new PostgresEventBroker({
      pool: this.plainPool, // its NOTIFYs, with the same time limit as every statement
      connect: () => listenClient(this.currentPool(), listenAt, queryTimeoutMs),
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
    try {
      return await migratePostgres(this.untimedPool, this.s, this.schemaName, this.logger);
    } catch (error) {
      throw pgStoreError(error, 'apply migrations');
    }
  }

  /** What a start does once per store: migrations, and checks of the connections' settings. */
  private async prepare(logger: Logger): Promise<void> {
    const stops = this.stops;
    await this.migrate();
    // Stopped meanwhile: going on would make a new pool that nothing ends.
    if (stops !== this.stops) throw new StoreError('PostgresStore: stopped while starting');
    await this.run('read the DateStyle setting', () => checkDateStyle(this.plainPool));
    // Where Kairos did not give the connections a statement_timeout, only once the server's is
    // known to be safe (see `safeStatementLimit`).
    if ((this.makePool === null || !this.sendStatementTimeout) && this.queryTimeoutMs !== null) {
      const wanted = this.queryTimeoutMs;
      const source = this.makePool === null ? 'pool-options' : 'server';
      this.statementLimit.timeoutMs = await this.run('read the statement_timeout setting', () =>
        safeStatementLimit(this.untimedPool, wanted, logger, source),
      );
    }
  }

  async start(context: StoreContext): Promise<void> {
    this.contexts.add(context);
    this.migrated ??= this.prepare(context.logger).catch((error: unknown) => {
      this.migrated = null; // the next start tries again
      throw error;
    });
    try {
      await this.migrated;
    } catch (error) {
      this.contexts.delete(context);
      throw error;
    }
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
    if (this.makePool !== null) {
      this.poolEnded = true;
      await this.pool.end().catch(() => undefined);
    }
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
    return this.testClock === null ? this.preparedPool : this.plainPool;
  }

  /** `db`, waiting at most `timeoutMs` for an answer (never longer than the store's own limit). */
  private dbWithin(timeoutMs: number): PgPool {
    const limit = this.statementLimit.timeoutMs;
    return this.poolWithLimit(this.testClock === null, {
      timeoutMs: limit === null ? timeoutMs : Math.min(limit, timeoutMs),
    });
  }

  /** SQL for "now": the database's clock (`now()`, the transaction's start), or the test clock. */
  private get nowSql(): string {
    return this.testClock === null ? 'now()' : `'${new Date(this.testClock.now()).toISOString()}'::timestamptz`;
  }

  // --- schedules

  async addSchedule(schedule: NewSchedule, conflict: ConflictPolicy, tx?: unknown): Promise<AddScheduleResult> {
    if (tx !== undefined) {
      const client = transactionClient(tx);
      const result = await this.run('add a schedule', () =>
        schedules.addSchedule(client, this.s, this.nowSql, schedule, conflict),
      );
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

  async acquireJobs(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs> {
    const { leaseMs, limit, tasks } = options;
    const startNow = options.startNow ?? limit;
    // While capped jobs wait, uncapped ones take at most half the slots, so a flood of one-off
    // jobs cannot starve scheduled ones (which are capped by max instances).
    const uncappedLimit = this.cappedWaiting ? Math.floor(limit / 2) : limit;
    const uncapped = (wanted: number, claimed: number) =>
      this.run('acquire jobs', () =>
        acquireUncappedJobs(
          this.db,
          this.s,
          this.nowSql,
          node,
          leaseMs,
          wanted,
          tasks,
          Math.max(0, startNow - claimed),
        ),
      );
    const fast =
      uncappedLimit > 0
        ? await uncapped(uncappedLimit, 0)
        : { now: new Date(), jobs: [], cappedDue: true, next: undefined };
    this.cappedWaiting = fast.cappedDue;
    const room = limit - fast.jobs.length;
    if (room > 0 && !fast.cappedDue && fast.jobs.length === uncappedLimit) {
      // Held to half for capped jobs that are no longer due: the rest of the places are for
      // uncapped ones too. (An acquire hands out every due job it can; a node that gets fewer
      // than it asked for takes it that none is left.)
      const more = await this.orClaimed(fast, () => uncapped(room, fast.jobs.length));
      this.cappedWaiting = more.cappedDue;
      return { now: fast.now, jobs: [...fast.jobs, ...more.jobs], next: more.next };
    }
    if (!fast.cappedDue || room <= 0) return { now: fast.now, jobs: fast.jobs, next: fast.next };
    const capped = await this.orClaimed(fast, () => this.acquireCapped(node, leaseMs, room, tasks, startNow, fast));
    return { now: capped.now, jobs: [...fast.jobs, ...capped.jobs] };
  }

  /**
   * The rest of an acquire (`rest`: the jobs it claims besides `fast`'s), after its first claim
   * already leased `fast.jobs` to the node. Should the rest fail (the database went away
   * meanwhile), it counts as having claimed nothing, so the acquire still hands out those jobs:
   * lost to the node, they would wait for their leases to expire and be recorded `abandoned` unrun
   * (a job with no abandonment retry, never run at all). The failure shows at the next acquire,
   * which tries the capped jobs again.
   */
  private async orClaimed<T>(
    fast: { now: Date; jobs: JobRecord[] },
    rest: () => Promise<T>,
  ): Promise<T | { now: Date; jobs: JobRecord[]; cappedDue: true; next: undefined }> {
    try {
      return await rest();
    } catch (error) {
      if (fast.jobs.length === 0) throw error;
      this.cappedWaiting = true;
      return { now: fast.now, jobs: [], cappedDue: true, next: undefined };
    }
  }

  /** Claims capped jobs for `room` places, in a transaction (see `acquireCappedJobs`). */
  private acquireCapped(
    node: string,
    leaseMs: number,
    room: number,
    tasks: readonly TaskLimit[],
    startNow: number,
    fast: { now: Date; jobs: JobRecord[] },
  ): Promise<{ now: Date; jobs: JobRecord[] }> {
    return this.transaction('acquire jobs', async (client) => {
      const { rows } = await client.query<{ now: Date }>(`SELECT ${this.nowSql} AS now`);
      const capped = await acquireCappedJobs(
        client,
        this.s,
        this.schemaName,
        this.nowSql,
        node,
        leaseMs,
        room,
        tasks,
        Math.max(0, startNow - fast.jobs.length),
      );
      this.cappedWaiting = capped.length === room;
      return { now: rows[0]?.now ?? fast.now, jobs: capped };
    });
  }

  /** Releases made in the same event-loop turn go to the database as one statement. */
  releaseJob(node: string, jobId: string, release: JobRelease): Promise<boolean> {
    return this.releases.add({ node, jobId, release });
  }

  async nextJobTimes(tasks: readonly TaskLimit[], after: Date): Promise<JobWakeTimes> {
    return this.run('find the next job time', () => leases.nextJobTimes(this.db, this.s, tasks, after));
  }

  /**
   * A renewal is given up after a quarter of the lease (or `queryTimeout`, if shorter), with its
   * connection: the node tries again soon, on another one, while the lease still holds. One that
   * waited `queryTimeout` on a silent connection would let the lease run out. (A renewal given up
   * on that the server still carries out later only extends the lease: at worst, of a job this node
   * has stopped meanwhile (see LeaseFence), whose takeover then waits for that lease.) The wait for
   * a free connection of the pool is not bounded here.
   */
  async extendLeases(node: string, leaseMs: number, jobs: readonly LeaseRef[]): Promise<LeaseStatus> {
    const db = this.dbWithin(Math.max(1, Math.floor(leaseMs / 4)));
    return this.run('renew leases', () => leases.extendLeases(db, this.s, this.nowSql, node, leaseMs, jobs));
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
    const held = await this.run('record job runs', () => releaseJobs(this.db, this.s, batch));
    return batch.map((item) => {
      const wasHeld = held.has(item.jobId);
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

  /**
   * The pool to use. A store that made its own pool ends it when the last scheduler using it
   * stops; used again (a scheduler started again), it makes a new one.
   */
  private currentPool(): PgPool {
    if (this.poolEnded && this.makePool !== null) {
      this.pool = this.makePool();
      this.poolEnded = false;
    }
    return this.pool;
  }

  /**
   * `use` of the store's own pool, once more on a pool made again without the `statement_timeout`
   * it sends as its connections start, should a connection pooler refuse that (PgBouncer passes on
   * only the few settings it tracks). `prepare` then checks whether the server side sets one.
   */
  private async refusedTimeoutAside<T>(use: () => Promise<T>): Promise<T> {
    try {
      return await use();
    } catch (error) {
      if (this.makePool === null || refusedStartupSetting(error) !== 'statement_timeout') throw error;
      if (this.sendStatementTimeout) {
        // Several uses may fail at once: the first makes the change, all try again.
        this.sendStatementTimeout = false;
        this.statementLimit.timeoutMs = null; // until the server's own limit is known to be safe
        this.logger.info(
          { schema: this.schemaName },
          'PostgresStore: a connection pooler (PgBouncer?) refused the statement_timeout sent as connections start; connecting without it',
        );
        const refused = this.pool;
        this.poolEnded = true; // the next use makes the pool again, with the new settings
        await refused.end().catch(() => undefined);
      }
      return use();
    }
  }

  private async run<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw pgStoreError(error, action);
    }
  }

  /**
   * Runs `work` in a transaction on a client of its own. Run again if a prepared statement was
   * refused (another node's migration changed its columns, the connection lost its statements, a
   * pooler handed it another server connection): the refusal aborted the transaction, and the
   * statements now go out under fresh names, or unnamed (see `StatementNames`).
   */
  private async transaction<T>(action: string, work: (client: PgPoolClient) => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await this.transactionOnce(work);
      } catch (error) {
        if (!isStaleStatement(error) || tries >= STALE_STATEMENT_TRIES) throw pgStoreError(error, action);
      }
    }
  }

  private async transactionOnce<T>(work: (client: PgPoolClient) => Promise<T>): Promise<T> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      // A connection that did not answer in time will not answer a ROLLBACK either.
      let broken = isQueryTimeout(error);
      if (!broken) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true; // the connection itself failed; do not return it to the pool
        }
      }
      client.release(broken);
      throw error;
    }
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
