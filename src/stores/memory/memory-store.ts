import { ValidationError } from '../../errors.ts';
import type { EventBroker } from '../../events/event-broker.ts';
import {
  executionEvent,
  jobAddedEvent,
  type KairosEvent,
  scheduleAddEvent,
  scheduleUpdateEvent,
} from '../../events/event-types.ts';
import { LocalEventBroker } from '../../events/local-event-broker.ts';
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
import {
  abandonedExecution,
  abandonedRequeue,
  cancelledBeforeStartExecution,
  DEAD_NODE_FORGOTTEN_AFTER_MS,
  admitFiredJobs,
  firedJobToStart,
  handedBackClaim,
  releasedAttempt,
  releaseEvent,
} from '../store-records.ts';
import { MemoryExecutionLog } from './memory-execution-log.ts';
import { MemoryJobTable } from './memory-job-table.ts';
import { MemoryScheduleTable } from './memory-schedule-table.ts';

export interface MemoryStoreOptions {
  /** Executions kept before the oldest are dropped, so memory stays flat. (Default: 100,000.) */
  maxExecutions?: number;
  /** The store's clock; leases are judged by it. (Default: the clock of the first scheduler started on it.) */
  clock?: Clock;
}

/**
 * Keeps everything in this process: for tests, development and apps that need no persistence.
 * Several schedulers in one process may share one instance; they then behave like a cluster
 * (leases, max instances and exactly-once fires hold across them) and share one event broker.
 */
export class MemoryStore implements DataStore {
  private readonly schedules = new MemoryScheduleTable();
  private readonly jobs = new MemoryJobTable();
  private readonly executions: MemoryExecutionLog;
  private readonly nodes = new Map<string, NodeInfo>();
  private readonly broker = new LocalEventBroker();
  private events: EventBroker = this.broker;
  private clock: Clock | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    const maxExecutions = options.maxExecutions ?? 100_000;
    if (!Number.isInteger(maxExecutions) || maxExecutions < 1) {
      throw new ValidationError('MemoryStore maxExecutions', maxExecutions, 'must be a positive integer');
    }
    this.executions = new MemoryExecutionLog(maxExecutions);
    this.clock = options.clock;
  }

  async start(context: StoreContext): Promise<void> {
    this.clock ??= context.clock;
    this.events = context.events;
  }

  async stop(): Promise<void> {}

  defaultEventBroker(): EventBroker {
    return this.broker;
  }

  async addSchedule(schedule: NewSchedule, conflict: ConflictPolicy, tx?: unknown): Promise<AddScheduleResult> {
    rejectTransaction(tx);
    const result = this.schedules.add(schedule, conflict, this.clockNow());
    const event = scheduleAddEvent(result);
    if (event !== null) this.publish(event);
    return result;
  }

  async updateSchedule(id: string, patch: SchedulePatch): Promise<ScheduleRecord> {
    const before = this.schedules.get(id);
    const updated = this.schedules.update(id, patch, this.clockNow());
    this.publish(scheduleUpdateEvent(before, updated));
    return updated;
  }

  async removeSchedules(ids: string[]): Promise<string[]> {
    const removed = this.schedules.remove(ids);
    for (const scheduleId of removed) this.publish({ type: 'schedule.removed', timestamp: this.date(), scheduleId });
    return removed;
  }

  async getSchedules(query: ScheduleQuery): Promise<Page<ScheduleRecord>> {
    return this.schedules.query(query);
  }

  async acquireSchedules(node: string, leaseMs: number, limit: number, aheadMs = 0): Promise<AcquiredSchedules> {
    const now = this.clockNow();
    const schedules = this.schedules.acquire(
      node,
      leaseMs,
      limit,
      now,
      aheadMs,
      (id) => this.jobs.activeCount(id) === 0,
    );
    return { now: new Date(now), schedules };
  }

  async releaseSchedules(
    node: string,
    releases: ScheduleRelease[],
    start?: StartFiredJobs,
  ): Promise<ReleasedSchedules> {
    const now = this.clockNow();
    const result: ReleasedSchedules = { jobs: [], executions: [], started: [] };
    for (const release of releases) {
      const held = this.schedules.heldBy(node, release.scheduleId);
      if (held === undefined) continue; // removed meanwhile, or its lease was taken over
      if (release.jobs.length > 0) {
        const active = this.jobs.activeCount(release.scheduleId);
        const { admitted, skipped } = admitFiredJobs(release.jobs, active, held.maxInstances, node, new Date(now));
        result.executions.push(...skipped);
        const added = admitted.filter((job) => this.jobs.add(job));
        const first = firedJobToStart(added, start);
        const started = first && start && this.jobs.claim(first.id, node, start.leaseMs, now);
        if (started) {
          result.started.push(started);
          added[0] = started;
        }
        result.jobs.push(...added);
      }
      result.executions.push(...release.missed);
      this.schedules.release(
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
    for (const execution of result.executions) this.executions.append(execution);
    const timestamp = new Date(now);
    for (const job of result.jobs) this.publish(jobAddedEvent(job, timestamp));
    for (const execution of result.executions) this.publish(executionEvent(execution, null, timestamp));
    return result;
  }

  async nextScheduleFireTime(): Promise<Date | null> {
    const next = this.schedules.nextFireTime();
    return next === null ? null : new Date(next);
  }

  async addJob(job: JobRecord, tx?: unknown): Promise<void> {
    rejectTransaction(tx);
    if (!this.jobs.add(job)) {
      throw new ValidationError(
        'job id',
        job.id,
        'is already used by another job (or its schedule already has a job for that fire time)',
      );
    }
    this.publish(jobAddedEvent(job, this.date()));
  }

  async acquireJobs(node: string, options: AcquireJobsOptions): Promise<AcquiredJobs> {
    const now = this.clockNow();
    return {
      now: new Date(now),
      jobs: this.jobs.acquire(node, options.leaseMs, options.limit, options.tasks, now, options.startNow),
    };
  }

  async releaseJob(node: string, jobId: string, release: JobRelease): Promise<boolean> {
    const released = this.jobs.isHeldBy(node, jobId, releasedAttempt(release), handedBackClaim(release));
    if (released) this.jobs.finish(jobId, release.requeue, this.clockNow());
    // Only a held attempt is recorded (see DataStore.releaseJob).
    if (released && release.execution !== null) this.executions.append(release.execution);
    const held = released || (release.execution !== null && this.executions.has(release.execution.id));
    const event = releaseEvent(release, held);
    if (event !== null) this.publish(event);
    return held;
  }

  async nextJobTimes(tasks: readonly TaskLimit[], after: Date): Promise<JobWakeTimes> {
    const runAt = this.jobs.nextRunTime(tasks, after.getTime());
    const leaseExpiry = this.jobs.earliestLeaseExpiry();
    return {
      runAt: runAt === null ? null : new Date(runAt),
      leaseExpiry: leaseExpiry === null ? null : new Date(leaseExpiry),
    };
  }

  async extendLeases(node: string, leaseMs: number, jobs: readonly LeaseRef[]): Promise<LeaseStatus> {
    return this.jobs.extend(node, leaseMs, jobs, this.clockNow());
  }

  async reapAbandoned(): Promise<ExecutionRecord[]> {
    const now = this.clockNow();
    const timestamp = new Date(now);
    const executions: ExecutionRecord[] = [];
    for (const job of this.jobs.expired(now)) {
      const execution = abandonedExecution(job, timestamp);
      const requeue = abandonedRequeue(job, now);
      this.jobs.finish(job.id, requeue, now);
      this.executions.append(execution);
      executions.push(execution);
      this.publish(executionEvent(execution, requeue?.runAt ?? null, timestamp));
    }
    return executions;
  }

  async handBackStrayJobs(
    node: string,
    held: readonly LeaseRef[],
    minLeaseLeftMs: number,
    claimedSince: Date,
  ): Promise<JobRecord[]> {
    return this.jobs.handBackStray(node, held, this.clockNow() + minLeaseLeftMs, claimedSince.getTime());
  }

  async getJobs(query: JobQuery): Promise<Page<JobRecord>> {
    return this.jobs.query(query);
  }

  async requestCancel(jobId: string, node: string): Promise<CancelResult> {
    const removed = this.jobs.removePending(jobId);
    const timestamp = this.date();
    if (removed !== undefined) {
      const execution = cancelledBeforeStartExecution(removed, node, timestamp);
      this.executions.append(execution);
      this.publish(executionEvent(execution, null, timestamp));
      return { status: 'cancelled', execution };
    }
    const running = this.jobs.requestCancel(jobId);
    if (running === undefined) return { status: 'not_found' };
    this.publish({ type: 'job.cancel_requested', timestamp, jobId, node: running.acquiredBy });
    return { status: 'requested', node: running.acquiredBy };
  }

  async getExecutions(query: ExecutionQuery): Promise<Page<ExecutionRecord>> {
    return this.executions.query(query);
  }

  async pruneExecutions(olderThan: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    return this.executions.pruneBefore(olderThan.getTime(), limit);
  }

  async heartbeat(node: NodeInfo): Promise<void> {
    const now = this.date();
    for (const [id, seen] of this.nodes) {
      if (now.getTime() - seen.lastSeen.getTime() > DEAD_NODE_FORGOTTEN_AFTER_MS) this.nodes.delete(id);
    }
    this.nodes.set(node.id, { ...node, lastSeen: now });
  }

  async removeNode(nodeId: string): Promise<void> {
    this.nodes.delete(nodeId);
  }

  async getNodes(): Promise<NodeInfo[]> {
    return [...this.nodes.values()].map((node) => ({ ...node }));
  }

  private clockNow(): number {
    return this.clock ? this.clock.now() : Date.now();
  }

  private date(): Date {
    return new Date(this.clockNow());
  }

  private publish(event: KairosEvent): void {
    this.events.publish(event);
  }
}

function rejectTransaction(tx: unknown): void {
  if (tx !== undefined) {
    throw new ValidationError(
      'tx',
      tx,
      'is not supported by MemoryStore: transactions need a SQL store (SqliteStore, PostgresStore)',
    );
  }
}
