import type { Logger } from '../common/logger.ts';
import type { EventBroker } from '../events/event-broker.ts';
import type { Clock } from '../time/clock.ts';
import type { ExecutionQuery, JobQuery, Page, ScheduleQuery } from './queries.ts';
import type { ExecutionRecord, JobRecord, NodeInfo, ScheduleRecord } from './records.ts';

/**
 * Glossary for this interface:
 * - node: the id of the calling `Scheduler`; leases are held in its name.
 * - lease: `acquiredBy` + `acquiredUntil` on a schedule or job. A store hands a row to at most one
 *   live lease at a time; an expired lease may be taken over. Lease times come from the store's
 *   clock (the database's on PostgreSQL), never from the caller's.
 * - release: the caller hands a leased row back together with what it decided, in one transaction.
 *   Releases only touch rows the caller still holds.
 *
 * Every method is one atomic unit on the store. All trigger and policy logic lives in the
 * scheduler; a store only stores, claims and releases (and counts, to honour concurrency caps).
 */
export interface DataStore {
  /** Applies migrations, wires listeners. `context.clock` is the clock of stores that have none of their own. */
  start(context: StoreContext): Promise<void>;
  /** Undoes `start(context)`; a store shared by several schedulers closes when the last one stops. */
  stop(context?: StoreContext): Promise<void>;
  /** The store's clock, for stores that judge time by their own (a database). (Default: the context's clock.) */
  now?(): Promise<Date>;
  /**
   * The broker that reaches every node of this store when the user gives none (e.g. one shared
   * in-process broker). `logger`: the scheduler's, for what the broker has to report.
   */
  defaultEventBroker?(logger?: Logger): EventBroker;
  /**
   * A statement may go through while its caller gets an error (a network between them, a
   * database server): the scheduler then looks for jobs leased to it that it never took in
   * (`handBackStrayJobs`). Unset for stores in the process (memory, SQLite), whose failed
   * statements did nothing.
   */
  readonly answersCanBeLost?: boolean;

  // --- schedules
  addSchedule(schedule: NewSchedule, conflict: ConflictPolicy, tx?: unknown): Promise<AddScheduleResult>;
  /** Throws `ScheduleNotFoundError` for an unknown id. */
  updateSchedule(id: string, patch: SchedulePatch): Promise<ScheduleRecord>;
  /** Returns the ids that existed and were removed. */
  removeSchedules(ids: string[]): Promise<string[]>;
  getSchedules(query: ScheduleQuery): Promise<Page<ScheduleRecord>>;
  /**
   * Leases up to `limit` due, unpaused, healthy schedules nobody else holds, earliest first. With
   * `aheadMs`, also those due within that much of now that have no job pending or running: they
   * are fired early, and their jobs wait in the store for their run time. Those `node` still holds
   * are taken again: a node's passes run one after another, each releasing what it took, so such a
   * lease is left from a pass whose release failed or skipped it (a row an application transaction
   * held), and waiting for it to lapse would only delay the fire.
   */
  acquireSchedules(node: string, leaseMs: number, limit: number, aheadMs?: number): Promise<AcquiredSchedules>;
  /**
   * For each held schedule: inserts its jobs (or records them `skipped` past `maxInstances`),
   * records `missed` fires, sets its fire times, drops the lease. With `start`, the first
   * admitted job of a schedule, if its id is listed, is leased to `node` in the same transaction
   * and returned in `started` (its `startedAt` is its run time if that is still ahead).
   */
  releaseSchedules(node: string, releases: ScheduleRelease[], start?: StartFiredJobs): Promise<ReleasedSchedules>;
  /**
   * When the schedule loop must look again: the earliest `nextFireTime` of an unpaused, healthy
   * schedule; for one leased by another node, not before its lease expires (its holder moves it on).
   */
  nextScheduleFireTime(): Promise<Date | null>;

  /** Stores whose transactions are synchronous (SQLite): add on the caller's open transaction `tx`. */
  addScheduleSync?(schedule: NewSchedule, conflict: ConflictPolicy, tx: unknown): AddScheduleResult;

  // --- jobs
  addJob(job: JobRecord, tx?: unknown): Promise<void>;
  /** Stores whose transactions are synchronous (SQLite): add on the caller's open transaction `tx`. */
  addJobSync?(job: JobRecord, tx: unknown): void;
  /**
   * Leases up to `limit` due pending jobs of `tasks`, honouring each schedule's `maxInstances` and
   * each task's `maxRunningJobs`; at most `startNow` of them with no abandonment retry left.
   */
  acquireJobs(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs>;
  /**
   * Records the execution and finishes the job (or puts it back pending when `requeue` is given).
   * Fenced by node and attempt (`release.execution.attempt`): a late release of an earlier attempt
   * never touches the job's next attempt, and its execution is not recorded (the takeover recorded
   * that attempt `abandoned`; a history has one record per attempt). False when the attempt was no
   * longer held, unless the execution is recorded already: an earlier try of this release went
   * through (a store whose answer to it was lost), and that counts as released.
   */
  releaseJob(node: string, jobId: string, release: JobRelease): Promise<boolean>;
  /**
   * When the job loop must look again: the earliest `runAt` strictly after `after` (the time of
   * the acquire just made) of a pending job of a task not at its `maxRunningJobs` cap, and the
   * earliest lease expiry of a running job (of any node and task), when it must be reaped and
   * re-run. Due jobs held back by a cap are not reported: finishing jobs wake the loop for them.
   */
  nextJobTimes(tasks: readonly TaskLimit[], after: Date): Promise<JobWakeTimes>;
  /** Renews the leases of the given attempts this node still holds; an attempt taken over meanwhile is `lost`. */
  extendLeases(node: string, leaseMs: number, jobs: readonly LeaseRef[]): Promise<LeaseStatus>;
  /** Jobs whose lease expired: records their attempt `abandoned` and re-queues or finishes them. */
  reapAbandoned(): Promise<ExecutionRecord[]>;
  /**
   * Puts back as pending, unrecorded, every job leased to `node` since `claimedSince` (its
   * `startedAt`, store time) whose attempt is not in `held` and whose lease has more than
   * `minLeaseLeftMs` left, and returns them (pending). For a node that lost the answer to a claim
   * that went through: those jobs are leased to it, freshly, but it never started them; left alone
   * they would wait for their lease to run out and be recorded `abandoned` (never run, with no
   * abandonment retry). The node calls it only while none of its own claims is in flight. Jobs
   * leased before `claimedSince` (the node's start: a process before it with the same node id, or
   * its own run before a stop) and leases near their end (a run the node stopped when it could not
   * renew it) are left alone: their takeover must record them.
   */
  handBackStrayJobs(
    node: string,
    held: readonly LeaseRef[],
    minLeaseLeftMs: number,
    claimedSince: Date,
  ): Promise<JobRecord[]>;
  getJobs(query: JobQuery): Promise<Page<JobRecord>>;
  /** A pending job is removed and recorded `cancelled`; a running one is flagged for its node. */
  requestCancel(jobId: string, node: string): Promise<CancelResult>;

  // --- history and nodes
  getExecutions(query: ExecutionQuery): Promise<Page<ExecutionRecord>>;
  /**
   * Deletes executions finished before `olderThan`, the oldest first and at most `limit` of them
   * (default: all, in chunks of the store's choosing); returns how many.
   */
  pruneExecutions(olderThan: Date, limit?: number): Promise<number>;
  heartbeat(node: NodeInfo): Promise<void>;
  removeNode(nodeId: string): Promise<void>;
  getNodes(): Promise<NodeInfo[]>;
}

export interface StoreContext {
  events: EventBroker;
  clock: Clock;
  logger: Logger;
  /** Called when the store learns that another node (process) changed something: look again. */
  wake(): void;
  /**
   * True once the scheduler was stopped while `start(context)` is under way. A start that would
   * wait (for another node's migration) then gives up, rejecting with a `StoreError` of code
   * `START_GIVEN_UP`; one that need not wait goes on.
   */
  startUnwanted?(): boolean;
}

/** The `code` of the `StoreError` of a start given up for a stop (`StoreContext.startUnwanted`). */
export const START_GIVEN_UP = 'START_GIVEN_UP';

/** What `addSchedule` does when the id exists: update it in place, leave it, or throw `ConflictError`. */
export const ConflictPolicy = { replace: 'replace', keep: 'keep', error: 'error' } as const;
export type ConflictPolicy = (typeof ConflictPolicy)[keyof typeof ConflictPolicy];

/**
 * A schedule to add. `paused: undefined` keeps an existing schedule's paused state on replace (an
 * operator's pause survives the app re-declaring its schedules at start-up).
 */
export type NewSchedule = Omit<
  ScheduleRecord,
  'paused' | 'acquiredBy' | 'acquiredUntil' | 'revision' | 'createdAt' | 'updatedAt' | 'brokenReason' | 'lastFireTime'
> & { paused?: boolean };

export interface AddScheduleResult {
  outcome: 'added' | 'replaced' | 'kept';
  schedule: ScheduleRecord;
}

/** Fields to change; `nextFireTime` is recomputed by the scheduler when the trigger changes. */
export type SchedulePatch = Partial<
  Pick<
    ScheduleRecord,
    | 'task'
    | 'trigger'
    | 'args'
    | 'paused'
    | 'misfireGraceTime'
    | 'coalesce'
    | 'maxInstances'
    | 'maxJitter'
    | 'nextFireTime'
    | 'brokenReason'
  >
>;

export interface AcquiredSchedules {
  /** The store's clock at acquisition: due-ness is judged against it, not the node's clock. */
  now: Date;
  schedules: ScheduleRecord[];
}

export interface ScheduleRelease {
  scheduleId: string;
  /** The revision that was acquired; if it changed meanwhile, the fire times of the newer revision are kept. */
  revision: number;
  nextFireTime: Date | null;
  lastFireTime: Date | null;
  jobs: JobRecord[];
  missed: ExecutionRecord[];
  /** Set when the schedule could not be processed; it is then left alone until fixed. */
  brokenReason?: string | null;
}

/**
 * Fired jobs the releasing node runs itself, because it has the task and free slots: leased to it
 * as they are inserted, so no other node can take them and no acquire is spent on them; one fired
 * ahead waits on that node for its run time. One job per schedule at most (the first admitted),
 * which keeps a schedule within `maxInstances`: it was admitted because fewer than that were
 * pending or running.
 */
export interface StartFiredJobs {
  leaseMs: number;
  jobIds: ReadonlySet<string>;
}

export interface ReleasedSchedules {
  /** The jobs inserted, as stored (those in `started` as leased). */
  jobs: JobRecord[];
  /** The jobs of `jobs` leased to the releasing node (see `StartFiredJobs`), as leased. */
  started: JobRecord[];
  /** `missed` and `skipped` executions written by the release. */
  executions: ExecutionRecord[];
}

export interface TaskLimit {
  name: string;
  /** Cluster-wide cap on running jobs of this task; `null`: none. */
  maxRunningJobs: number | null;
  /**
   * The claiming node's `retry.abandoned` for this task: a claimed job's `abandonRetries` is
   * lowered to it. A job gets its budget from the node that made it, which may not know the task's
   * options (a node that only fires schedules); a task that must not run twice stays so.
   */
  abandonRetries?: number | undefined;
}

export interface AcquireJobsOptions {
  leaseMs: number;
  limit: number;
  tasks: readonly TaskLimit[];
  /**
   * How many of the `limit` jobs the caller starts at once (its free slots). The others wait on
   * the node for a slot (`prefetchJobs`); should the node die first, they are taken over as
   * abandoned, so only jobs that may be re-run then (`abandonRetries > 0`) are claimed for those
   * places: a job that must not run twice is never claimed to wait. (Default: `limit`.)
   */
  startNow?: number;
}

export interface AcquiredJobs {
  now: Date;
  jobs: JobRecord[];
  /**
   * What `nextJobTimes(tasks, now)` would answer after this acquire, if the store found it out in
   * the same round trip (then the caller need not ask). The lease expiry may leave out the leases
   * this acquire just gave: they are the caller's own.
   */
  next?: JobWakeTimes;
  /**
   * The tasks of due jobs this acquire left pending because their schedule was at its
   * `maxInstances`, when the store looked (undefined: it did not). Until a run of another node frees
   * the place, only that run's outcome can tell this node: it listens for those tasks' outcomes.
   */
  heldBackTasks?: string[];
  /**
   * A later statement of this acquire failed after an earlier one leased `jobs`: it may have
   * leased more that it could not report (see `DataStore.handBackStrayJobs`).
   */
  incomplete?: true;
}

export type JobRelease =
  | {
      execution: ExecutionRecord;
      /** Put the job back as pending (a retry, or a hand-back on shutdown) instead of finishing it. */
      requeue?: JobRequeue | null;
    }
  | {
      /** The job never started (a fired job held for its run time, handed back on shutdown): nothing to record. */
      execution: null;
      /** The attempt held (the fence an execution record gives otherwise). */
      attempt: number;
      /**
       * The held claim's `startedAt`, which fences the hand-back too: the job keeps its attempt, so
       * after a hand-back that went through (its answer lost) and a new claim by the same node, a
       * retry of it would otherwise hand back the new claim while it runs. Null: not fenced on it.
       */
      startedAt: Date | null;
      requeue: JobRequeue;
    };

/** A job's next run after a failed, abandoned or handed-back attempt. */
export interface JobRequeue {
  runAt: Date;
  /** The same grace after `runAt` as the job had after its first run time. */
  startDeadline: Date | null;
  attempt: number;
  abandonRetries: number;
  /** The job's `failedRuns` from now on. */
  failedRuns: number;
}

/** One attempt of a job, as leased: the fence for renewals and releases. */
export interface LeaseRef {
  id: string;
  attempt: number;
}

export interface JobWakeTimes {
  runAt: Date | null;
  leaseExpiry: Date | null;
}

export interface LeaseStatus {
  /** Jobs this node no longer holds (taken over after its lease expired). */
  lost: string[];
  /** Jobs someone asked to cancel. */
  cancelRequested: string[];
}

export type CancelResult =
  | { status: 'cancelled'; execution: ExecutionRecord }
  | { status: 'requested'; node: string | null }
  | { status: 'not_found' };
