import type { JobStatus, Outcome } from './records.ts';

/** One page of a listing; pass `nextCursor` back as `cursor` for the next one. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PageOptions {
  /** (Default: 100, at most 1000.) */
  limit?: number;
  cursor?: string | null;
}

/** Schedules, ordered by id. */
export interface ScheduleQuery extends PageOptions {
  ids?: string[];
  task?: string;
  paused?: boolean;
}

/** Pending and running jobs, ordered by `runAt`, then id. */
export interface JobQuery extends PageOptions {
  ids?: string[];
  task?: string;
  scheduleId?: string;
  status?: JobStatus;
}

/** Executions, newest first (by `finishedAt`, then id). */
export interface ExecutionQuery extends PageOptions {
  jobId?: string;
  scheduleId?: string;
  task?: string;
  outcome?: Outcome | Outcome[];
  /** Only executions finished at or after this instant. */
  from?: Date;
  /** Only executions finished before this instant. */
  to?: Date;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
