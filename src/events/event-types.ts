import type { ExecutionRecord, JobRecord, ScheduleRecord } from '../stores/records.ts';

/**
 * Events, namespaced by what they are about. Data events (`schedule.*`, `job.added`, execution
 * outcomes) are published by the store when the change commits, so a listener never hears of a
 * job that a rolled-back transaction added. With a cluster-wide broker every node hears them.
 */
export interface KairosEventMap {
  'scheduler.started': { node: string };
  'scheduler.stopped': { node: string };
  /** The scheduler survived an internal failure (e.g. the store was unreachable) and carries on. */
  'scheduler.error': { node: string; operation: string; error: { name: string; message: string } };

  'schedule.added': ScheduleEventData;
  'schedule.updated': ScheduleEventData;
  'schedule.paused': ScheduleEventData;
  'schedule.resumed': ScheduleEventData;
  'schedule.removed': { scheduleId: string };

  'job.added': {
    jobId: string;
    task: string;
    scheduleId: string | null;
    fireTime: Date | null;
    runAt: Date;
    /** The node the job was leased to as it was added (a fire that node runs itself); `null`: any node may take it. */
    leasedTo: string | null;
  };
  'job.started': {
    jobId: string;
    task: string;
    scheduleId: string | null;
    fireTime: Date | null;
    attempt: number;
    node: string;
    startedAt: Date;
  };
  'job.cancel_requested': { jobId: string; node: string | null };
  'job.succeeded': ExecutionEventData;
  'job.failed': ExecutionEventData;
  'job.timed_out': ExecutionEventData;
  'job.cancelled': ExecutionEventData;
  'job.missed': ExecutionEventData;
  'job.skipped': ExecutionEventData;
  'job.abandoned': ExecutionEventData;
}

export interface ScheduleEventData {
  scheduleId: string;
  task: string;
  nextFireTime: Date | null;
}

export interface ExecutionEventData {
  jobId: string;
  task: string;
  scheduleId: string | null;
  execution: ExecutionRecord;
  /** When the job runs again (a retry or a re-run after abandonment); `null` when this was its last run. */
  retryAt: Date | null;
}

export type KairosEventType = keyof KairosEventMap;

export type KairosEvent<K extends KairosEventType = KairosEventType> = K extends KairosEventType
  ? { type: K; timestamp: Date } & KairosEventMap[K]
  : never;

export const EXECUTION_EVENT_BY_OUTCOME = {
  succeeded: 'job.succeeded',
  failed: 'job.failed',
  timed_out: 'job.timed_out',
  cancelled: 'job.cancelled',
  missed: 'job.missed',
  skipped: 'job.skipped',
  abandoned: 'job.abandoned',
} as const satisfies Record<ExecutionRecord['outcome'], KairosEventType>;

/** Builds the event announcing a recorded execution. */
export function executionEvent(execution: ExecutionRecord, retryAt: Date | null, timestamp: Date): KairosEvent {
  return {
    type: EXECUTION_EVENT_BY_OUTCOME[execution.outcome],
    timestamp,
    jobId: execution.jobId,
    task: execution.task,
    scheduleId: execution.scheduleId,
    execution,
    retryAt,
  };
}

/** Builds the event announcing a schedule change (stamped with the schedule's `updatedAt`). */
export function scheduleEvent(
  type: 'schedule.added' | 'schedule.updated' | 'schedule.paused' | 'schedule.resumed',
  schedule: ScheduleRecord,
): KairosEvent {
  return {
    type,
    timestamp: schedule.updatedAt,
    scheduleId: schedule.id,
    task: schedule.task,
    nextFireTime: schedule.nextFireTime,
  };
}

/** The event for an `addSchedule` result: added, updated by a replace, or none when kept. */
export function scheduleAddEvent(result: {
  outcome: 'added' | 'replaced' | 'kept';
  schedule: ScheduleRecord;
}): KairosEvent | null {
  if (result.outcome === 'kept') return null;
  return scheduleEvent(result.outcome === 'added' ? 'schedule.added' : 'schedule.updated', result.schedule);
}

/** `schedule.paused`, `schedule.resumed` or `schedule.updated`, from a schedule before and after an update. */
export function scheduleUpdateEvent(before: ScheduleRecord | undefined, after: ScheduleRecord): KairosEvent {
  const type =
    before !== undefined && before.paused !== after.paused
      ? after.paused
        ? 'schedule.paused'
        : 'schedule.resumed'
      : 'schedule.updated';
  return scheduleEvent(type, after);
}

export function jobAddedEvent(job: JobRecord, timestamp: Date): KairosEvent {
  return {
    type: 'job.added',
    timestamp,
    jobId: job.id,
    task: job.task,
    scheduleId: job.scheduleId,
    fireTime: job.fireTime,
    runAt: job.runAt,
    leasedTo: job.acquiredBy,
  };
}
