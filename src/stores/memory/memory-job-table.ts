import { type HeapItem, IndexedHeap } from '../../common/indexed-heap.ts';
import type { JsonValue } from '../../common/json-value.ts';
import { cloneJson } from '../../common/json-value.ts';
import type { JobRequeue, LeaseRef, TaskLimit } from '../data-store.ts';
import { decodeCursor, encodeCursor, pageLimit } from '../paging.ts';
import type { JobQuery, Page } from '../queries.ts';
import { isHeldAttempt } from '../store-records.ts';
import type { JobRecord, JobStatus } from '../records.ts';

/**
 * Jobs in memory. Pending jobs wait in one heap per task, ordered by `runAt`; a job whose
 * schedule already has `maxInstances` running waits aside until one of those finishes, so the
 * heaps only ever hold jobs an acquire could hand out.
 */
interface JobEntry extends HeapItem {
  id: string;
  task: string;
  args: JsonValue;
  scheduleId: string | null;
  fireTime: number | null;
  runAt: number;
  startDeadline: number | null;
  attempt: number;
  failedRuns: number;
  maxAttempts: number;
  abandonRetries: number;
  maxInstances: number | null;
  status: JobStatus;
  acquiredBy: string | null;
  acquiredUntil: number;
  startedAt: number | null;
  cancelRequested: boolean;
  createdAt: number;
  seq: number;
}

const byRunAt = (a: JobEntry, b: JobEntry): boolean => a.runAt < b.runAt || (a.runAt === b.runAt && a.seq < b.seq);

export class MemoryJobTable {
  private readonly entries = new Map<string, JobEntry>();
  private readonly pendingByTask = new Map<string, IndexedHeap<JobEntry>>();
  private readonly blockedBySchedule = new Map<string, JobEntry[]>();
  private readonly running = new Set<JobEntry>();
  private readonly runningByTask = new Map<string, number>();
  private readonly runningBySchedule = new Map<string, number>();
  private readonly activeBySchedule = new Map<string, number>();
  private readonly fireKeys = new Set<string>();
  private seq = 0;

  /** Adds a pending job; false when its (schedule, fire time) already has a job. */
  add(job: JobRecord): boolean {
    if (this.entries.has(job.id)) return false;
    const key = fireKey(job.scheduleId, job.fireTime?.getTime() ?? null);
    if (key !== null) {
      if (this.fireKeys.has(key)) return false;
      this.fireKeys.add(key);
    }
    const entry: JobEntry = {
      heapIndex: -1,
      id: job.id,
      task: job.task,
      args: cloneJson(job.args),
      scheduleId: job.scheduleId,
      fireTime: job.fireTime?.getTime() ?? null,
      runAt: job.runAt.getTime(),
      startDeadline: job.startDeadline?.getTime() ?? null,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      failedRuns: job.failedRuns,
      abandonRetries: job.abandonRetries,
      maxInstances: job.maxInstances,
      status: 'pending',
      acquiredBy: null,
      acquiredUntil: 0,
      startedAt: null,
      cancelRequested: false,
      createdAt: job.createdAt.getTime(),
      seq: this.seq++,
    };
    this.entries.set(entry.id, entry);
    if (entry.scheduleId !== null) increment(this.activeBySchedule, entry.scheduleId, 1);
    this.makePending(entry);
    return true;
  }

  /** Jobs of the schedule that are pending or running. */
  activeCount(scheduleId: string): number {
    return this.activeBySchedule.get(scheduleId) ?? 0;
  }

  /**
   * Due jobs by run time; past the first `startNow`, only those that may be re-run, up to the first
   * that may not (see `AcquireJobsOptions`).
   */
  acquire(
    node: string,
    leaseMs: number,
    limit: number,
    tasks: readonly TaskLimit[],
    now: number,
    startNow = limit,
  ): JobRecord[] {
    const acquired: JobRecord[] = [];
    const open = new Map<IndexedHeap<JobEntry>, TaskLimit>();
    for (const task of tasks) {
      const heap = this.pendingByTask.get(task.name);
      if (heap !== undefined && heap.size > 0 && !this.taskFull(task)) open.set(heap, task);
    }
    while (acquired.length < limit && open.size > 0) {
      let bestHeap: IndexedHeap<JobEntry> | undefined;
      let best: JobEntry | undefined;
      for (const heap of open.keys()) {
        const top = heap.peek();
        if (top === undefined || top.runAt > now) {
          open.delete(heap);
        } else if (best === undefined || byRunAt(top, best)) {
          best = top;
          bestHeap = heap;
        }
      }
      if (best === undefined || bestHeap === undefined) break;
      // Nothing from here on is claimed to wait (see AcquireJobsOptions.startNow).
      if (acquired.length >= startNow && best.abandonRetries === 0) break;
      bestHeap.pop();
      if (this.scheduleFull(best)) {
        const blocked = this.blockedBySchedule.get(best.scheduleId as string);
        if (blocked) blocked.push(best);
        else this.blockedBySchedule.set(best.scheduleId as string, [best]);
        continue;
      }
      const task = open.get(bestHeap) as TaskLimit;
      // Lowered to this node's budget for the task (see `TaskLimit.abandonRetries`).
      best.abandonRetries = Math.min(best.abandonRetries, task.abandonRetries ?? best.abandonRetries);
      acquired.push(this.startRunning(best, node, leaseMs, now));
      if (this.taskFull(task)) open.delete(bestHeap);
    }
    return acquired;
  }

  /** Leases one pending job to `node` by id (a fired job its node starts itself); null if it cannot. */
  claim(id: string, node: string, leaseMs: number, now: number): JobRecord | null {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.status !== 'pending') return null;
    const heap = this.pendingByTask.get(entry.task);
    if (heap === undefined || !heap.remove(entry)) return null; // held back by its schedule's cap
    return this.startRunning(entry, node, leaseMs, now);
  }

  /** Whether `node` holds this attempt of the job (and this claim of it, when `claimedAt` is given). */
  isHeldBy(node: string, id: string, attempt: number, claimedAt: number | null = null): boolean {
    const entry = this.entries.get(id);
    return (
      entry !== undefined &&
      entry.status === 'running' &&
      entry.acquiredBy === node &&
      entry.attempt === attempt &&
      (claimedAt === null || entry.startedAt === claimedAt)
    );
  }

  /**
   * Ends a running job's attempt: deletes the job, or puts it back pending when `requeue` is given
   * (due at once, `now`, if its cancel was asked for: the next claim ends it `cancelled`, unrun).
   */
  finish(id: string, requeue: JobRequeue | null | undefined, now: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    if (entry.status === 'running') this.stopRunning(entry);
    if (requeue) {
      entry.runAt = entry.cancelRequested ? Math.min(requeue.runAt.getTime(), now) : requeue.runAt.getTime();
      entry.startDeadline = requeue.startDeadline?.getTime() ?? null;
      entry.attempt = requeue.attempt;
      entry.abandonRetries = requeue.abandonRetries;
      entry.failedRuns = requeue.failedRuns;
      this.makePending(entry);
    } else {
      this.delete(entry);
    }
  }

  /** Removes a pending job (e.g. cancelled before it started). */
  removePending(id: string): JobRecord | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.status !== 'pending') return undefined;
    this.delete(entry);
    return toRecord(entry);
  }

  requestCancel(id: string): JobRecord | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.status === 'running') entry.cancelRequested = true;
    return toRecord(entry);
  }

  extend(
    node: string,
    leaseMs: number,
    jobs: readonly LeaseRef[],
    now: number,
  ): { lost: string[]; cancelRequested: string[] } {
    const lost: string[] = [];
    const cancelRequested: string[] = [];
    for (const { id, attempt } of jobs) {
      const entry = this.entries.get(id);
      if (entry === undefined || entry.status !== 'running' || entry.acquiredBy !== node || entry.attempt !== attempt) {
        lost.push(id);
        continue;
      }
      entry.acquiredUntil = now + leaseMs;
      if (entry.cancelRequested) cancelRequested.push(id);
    }
    return { lost, cancelRequested };
  }

  /** See `DataStore.handBackStrayJobs`. */
  handBackStray(node: string, held: readonly LeaseRef[], leasedBeyond: number, claimedSince: number): JobRecord[] {
    const isHeld = isHeldAttempt(held);
    const stray = [...this.running].filter(
      (entry) =>
        entry.acquiredBy === node &&
        entry.acquiredUntil > leasedBeyond &&
        (entry.startedAt ?? 0) >= claimedSince &&
        !isHeld(entry),
    );
    for (const entry of stray) {
      this.stopRunning(entry);
      this.makePending(entry);
    }
    return stray.map(toRecord);
  }

  /** Running jobs whose lease has expired. */
  expired(now: number): JobRecord[] {
    const expired: JobRecord[] = [];
    for (const entry of this.running) {
      if (entry.acquiredUntil <= now) expired.push(toRecord(entry));
    }
    return expired;
  }

  earliestLeaseExpiry(): number | null {
    let earliest: number | null = null;
    for (const entry of this.running) {
      if (earliest === null || entry.acquiredUntil < earliest) earliest = entry.acquiredUntil;
    }
    return earliest;
  }

  /**
   * The earliest run time after `after` among pending jobs of tasks not at their cap. A task at
   * its cap is left out: the job that frees a slot wakes the loop. (Due jobs of other tasks have
   * all been handed out, or the loop is out of slots and waits for one to free.)
   */
  nextRunTime(tasks: readonly TaskLimit[], after: number): number | null {
    let earliest: number | null = null;
    for (const task of tasks) {
      if (this.taskFull(task)) continue;
      const top = this.pendingByTask.get(task.name)?.peek();
      if (top !== undefined && top.runAt > after && (earliest === null || top.runAt < earliest)) earliest = top.runAt;
    }
    return earliest;
  }

  query(query: JobQuery): Page<JobRecord> {
    const limit = pageLimit(query.limit);
    const after = query.cursor ? decodeCursor(query.cursor, ['number', 'string'] as const) : null;
    const wanted = query.ids ? new Set(query.ids) : null;
    const matches: JobEntry[] = [];
    const source = wanted
      ? [...wanted].map((id) => this.entries.get(id)).filter((entry) => entry !== undefined)
      : this.entries.values();
    for (const entry of source) {
      if (query.task !== undefined && entry.task !== query.task) continue;
      if (query.scheduleId !== undefined && entry.scheduleId !== query.scheduleId) continue;
      if (query.status !== undefined && entry.status !== query.status) continue;
      if (after && (entry.runAt < after[0] || (entry.runAt === after[0] && entry.id <= after[1]))) continue;
      matches.push(entry);
    }
    matches.sort((a, b) => a.runAt - b.runAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const items = matches.slice(0, limit).map(toRecord);
    const last = items.at(-1);
    return {
      items,
      nextCursor: matches.length > limit && last ? encodeCursor([last.runAt.getTime(), last.id]) : null,
    };
  }

  get size(): number {
    return this.entries.size;
  }

  private taskFull(task: TaskLimit): boolean {
    return task.maxRunningJobs !== null && (this.runningByTask.get(task.name) ?? 0) >= task.maxRunningJobs;
  }

  private scheduleFull(entry: JobEntry): boolean {
    return (
      entry.scheduleId !== null &&
      entry.maxInstances !== null &&
      (this.runningBySchedule.get(entry.scheduleId) ?? 0) >= entry.maxInstances
    );
  }

  private startRunning(entry: JobEntry, node: string, leaseMs: number, now: number): JobRecord {
    entry.status = 'running';
    entry.acquiredBy = node;
    entry.acquiredUntil = now + leaseMs;
    entry.startedAt = Math.max(now, entry.runAt); // a job fired ahead starts at its run time
    this.running.add(entry);
    increment(this.runningByTask, entry.task, 1);
    if (entry.scheduleId !== null) increment(this.runningBySchedule, entry.scheduleId, 1);
    return toRecord(entry);
  }

  private makePending(entry: JobEntry): void {
    entry.status = 'pending';
    entry.acquiredBy = null;
    entry.acquiredUntil = 0;
    entry.startedAt = null;
    let heap = this.pendingByTask.get(entry.task);
    if (heap === undefined) {
      heap = new IndexedHeap(byRunAt);
      this.pendingByTask.set(entry.task, heap);
    }
    heap.push(entry);
  }

  private stopRunning(entry: JobEntry): void {
    this.running.delete(entry);
    increment(this.runningByTask, entry.task, -1);
    if (entry.scheduleId === null) return;
    increment(this.runningBySchedule, entry.scheduleId, -1);
    // A slot of the schedule is free again: its blocked jobs may be handed out.
    const blocked = this.blockedBySchedule.get(entry.scheduleId);
    if (blocked !== undefined) {
      this.blockedBySchedule.delete(entry.scheduleId);
      for (const job of blocked) this.pendingByTask.get(job.task)?.push(job);
    }
  }

  private delete(entry: JobEntry): void {
    this.entries.delete(entry.id);
    this.pendingByTask.get(entry.task)?.remove(entry);
    if (entry.scheduleId !== null) {
      increment(this.activeBySchedule, entry.scheduleId, -1);
      const blocked = this.blockedBySchedule.get(entry.scheduleId);
      const index = blocked?.indexOf(entry) ?? -1;
      if (blocked && index >= 0) blocked.splice(index, 1);
      const key = fireKey(entry.scheduleId, entry.fireTime);
      if (key !== null) this.fireKeys.delete(key);
    }
  }
}

/** The uniqueness key of DESIGN §6: at most one job per (schedule, fire time). */
function fireKey(scheduleId: string | null, fireTime: number | null): string | null {
  return scheduleId === null || fireTime === null ? null : `${scheduleId}\u0000${fireTime}`;
}

function increment(counts: Map<string, number>, key: string, by: number): void {
  const value = (counts.get(key) ?? 0) + by;
  if (value === 0) counts.delete(key);
  else counts.set(key, value);
}

function toRecord(entry: JobEntry): JobRecord {
  return {
    id: entry.id,
    task: entry.task,
    args: cloneJson(entry.args),
    scheduleId: entry.scheduleId,
    fireTime: entry.fireTime === null ? null : new Date(entry.fireTime),
    runAt: new Date(entry.runAt),
    startDeadline: entry.startDeadline === null ? null : new Date(entry.startDeadline),
    attempt: entry.attempt,
    maxAttempts: entry.maxAttempts,
    failedRuns: entry.failedRuns,
    abandonRetries: entry.abandonRetries,
    maxInstances: entry.maxInstances,
    status: entry.status,
    acquiredBy: entry.acquiredBy,
    acquiredUntil: entry.acquiredBy === null ? null : new Date(entry.acquiredUntil),
    startedAt: entry.startedAt === null ? null : new Date(entry.startedAt),
    cancelRequested: entry.cancelRequested,
    createdAt: new Date(entry.createdAt),
  };
}
