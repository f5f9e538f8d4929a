import { uuidv7 } from '../common/uuid.ts';
import { executionEvent, type KairosEvent } from '../events/event-types.ts';
import type { JobRelease, JobRequeue, LeaseRef, StartFiredJobs } from './data-store.ts';
import type { ExecutionRecord, JobRecord } from './records.ts';

/**
 * Execution records that stores write on their own account (a fire over `maxInstances`, a job
 * whose node died, a job cancelled before it started). Shared so every store writes them alike.
 */
function skippedExecution(job: JobRecord, node: string | null, now: Date): ExecutionRecord {
  return notStartedExecution(job, node, now, 'skipped', {
    name: 'MaxInstancesReached',
    message: `schedule ${JSON.stringify(job.scheduleId)} already has ${job.maxInstances} job(s) pending or running (maxInstances)`,
    stack: null,
  });
}

/**
 * A node row not seen for this long is removed by the next heartbeat of any node: its node died
 * without leaving the cluster (a graceful stop removes its own row). A day, so that who died
 * recently stays visible.
 */
export const DEAD_NODE_FORGOTTEN_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * The max-instances rule at fire time, alike in every store. It counts jobs already pending or
 * running; a batch under the limit is admitted whole (coalesce 'all' may add several, which then
 * run one after another), a batch at or over it is skipped whole, each job leaving a skipped
 * execution.
 */
export function admitFiredJobs(
  jobs: JobRecord[],
  activeJobs: number,
  maxInstances: number,
  node: string | null,
  now: Date,
): { admitted: JobRecord[]; skipped: ExecutionRecord[] } {
  if (activeJobs < maxInstances) return { admitted: jobs, skipped: [] };
  return { admitted: [], skipped: jobs.map((job) => skippedExecution(job, node, now)) };
}

export function cancelledBeforeStartExecution(job: JobRecord, node: string | null, now: Date): ExecutionRecord {
  return notStartedExecution(job, node, now, 'cancelled', {
    name: 'JobCancelled',
    message: 'cancelled before it started',
    stack: null,
  });
}

export function abandonedExecution(job: JobRecord, now: Date): ExecutionRecord {
  const startedAt = job.startedAt;
  return {
    id: uuidv7(now.getTime()),
    jobId: job.id,
    scheduleId: job.scheduleId,
    task: job.task,
    args: job.args,
    fireTime: job.fireTime,
    runAt: job.runAt,
    startedAt,
    finishedAt: now,
    durationMs: startedAt === null ? null : now.getTime() - startedAt.getTime(),
    outcome: 'abandoned',
    error: {
      name: 'NodeLost',
      message:
        `node ${JSON.stringify(job.acquiredBy)} stopped renewing its lease while running the job` +
        (job.cancelRequested ? ' (its cancellation had been asked for: not run again)' : ''),
      stack: null,
    },
    result: null,
    node: job.acquiredBy,
    attempt: job.attempt,
  };
}

function notStartedExecution(
  job: JobRecord,
  node: string | null,
  now: Date,
  outcome: 'skipped' | 'cancelled',
  error: ExecutionRecord['error'],
): ExecutionRecord {
  return {
    id: uuidv7(now.getTime()),
    jobId: job.id,
    scheduleId: job.scheduleId,
    task: job.task,
    args: job.args,
    fireTime: job.fireTime,
    runAt: job.runAt,
    startedAt: null,
    finishedAt: now,
    durationMs: null,
    outcome,
    error,
    result: null,
    node,
    attempt: job.attempt,
  };
}

/**
 * The fired job of a schedule that its node starts itself (`StartFiredJobs`): the first of the
 * schedule's jobs, if the node asked for it. One at most, so `maxInstances` holds.
 */
export function firedJobToStart(jobs: readonly JobRecord[], start: StartFiredJobs | undefined): JobRecord | undefined {
  const first = jobs[0];
  return first !== undefined && start?.jobIds.has(first.id) ? first : undefined;
}

/**
 * The event a release announces: the run's outcome, with its retry time if it put the job back;
 * none for a job handed back unrun, nor for an attempt the store no longer had (`held`: it records
 * nothing then, and the takeover announced the attempt's end).
 */
export function releaseEvent(release: JobRelease, held: boolean): KairosEvent | null {
  const { execution, requeue } = release;
  // A release of an attempt no longer held records nothing (see DataStore.releaseJob).
  if (execution === null || !held) return null;
  return executionEvent(execution, requeue?.runAt ?? null, execution.finishedAt);
}

/** The attempt a release lets go of: only its holder may release it. */
export function releasedAttempt(release: JobRelease): number {
  return release.execution === null ? release.attempt : release.execution.attempt;
}

/** One attempt of a job as a key of a set (releases and leases are fenced by attempt, not job). */
export const attemptKey = (jobId: string, attempt: number) => `${attempt}:${jobId}`;

/** Whether a job's attempt is one of `held`, a node's leases (see `DataStore.handBackStrayJobs`). */
export function isHeldAttempt(held: readonly LeaseRef[]): (job: { id: string; attempt: number }) => boolean {
  const keys = new Set(held.map(({ id, attempt }) => attemptKey(id, attempt)));
  return (job) => keys.has(attemptKey(job.id, job.attempt));
}

/** The claim a hand-back lets go of, as its `startedAt` in ms (null: any claim of the attempt). */
export function handedBackClaim(release: JobRelease): number | null {
  return release.execution === null ? (release.startedAt?.getTime() ?? null) : null;
}

/** A job's next run; its start deadline keeps the same grace after the new run time. */
export function jobRequeue(
  job: JobRecord,
  runAt: number,
  attempt: number,
  abandonRetries: number,
  failedRuns = job.failedRuns,
): JobRequeue {
  const grace = job.startDeadline === null ? null : job.startDeadline.getTime() - job.runAt.getTime();
  return {
    runAt: new Date(runAt),
    startDeadline: grace === null ? null : new Date(runAt + grace),
    attempt,
    abandonRetries,
    failedRuns,
  };
}

/**
 * After a node died mid-run: run again at once while the abandonment budget lasts, else finish. A
 * job whose cancellation was asked for finishes: the node that was to abort it is gone.
 */
export function abandonedRequeue(job: JobRecord, now: number): JobRequeue | null {
  if (job.cancelRequested || job.abandonRetries <= 0) return null;
  return jobRequeue(job, now, job.attempt + 1, job.abandonRetries - 1);
}
