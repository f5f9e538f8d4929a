import type { JsonValue } from '../common/json-value.ts';
import type { TriggerJson } from '../triggers/trigger-json.ts';

/** How an execution ended (DESIGN §3). */
export const Outcome = {
  succeeded: 'succeeded',
  failed: 'failed',
  missed: 'missed',
  skipped: 'skipped',
  cancelled: 'cancelled',
  timedOut: 'timed_out',
  abandoned: 'abandoned',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];
export const OUTCOMES: readonly Outcome[] = Object.values(Outcome);

/** Which job(s) a batch of due fire times of one schedule becomes. */
export const CoalescePolicy = { latest: 'latest', earliest: 'earliest', all: 'all' } as const;
export type CoalescePolicy = (typeof CoalescePolicy)[keyof typeof CoalescePolicy];

export const JobStatus = { pending: 'pending', running: 'running' } as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

/** A stored schedule: a task, a trigger, arguments and policies under a stable id. */
export interface ScheduleRecord {
  id: string;
  task: string;
  trigger: TriggerJson;
  args: JsonValue;
  paused: boolean;
  /** Milliseconds after its fire time that a job may still start; `null`: no limit. */
  misfireGraceTime: number | null;
  coalesce: CoalescePolicy;
  /** Cluster-wide cap on jobs of this schedule pending or running at once. */
  maxInstances: number;
  /** Milliseconds of random delay added to each fire. */
  maxJitter: number;
  /** `null` when the trigger has no more fire times (the schedule is finished). */
  nextFireTime: Date | null;
  lastFireTime: Date | null;
  acquiredBy: string | null;
  acquiredUntil: Date | null;
  /** Why this schedule cannot be processed (e.g. its trigger cannot be read back); `null` when healthy. */
  brokenReason: string | null;
  /**
   * Increases whenever the trigger or the next fire time is changed from outside the fire loop
   * (a new trigger, a patched `nextFireTime`); a release made for an older revision keeps the new
   * fire times instead of overwriting them. Other edits (args, policies, pause) leave it alone.
   */
  revision: number;
  createdAt: Date;
  updatedAt: Date;
}

/** One request to run a task once. Finished jobs are deleted; their history is in executions. */
export interface JobRecord {
  id: string;
  task: string;
  args: JsonValue;
  scheduleId: string | null;
  /** The schedule's fire time this job stands for (`null` for jobs added directly). */
  fireTime: Date | null;
  /** Not started before this instant (fire time + jitter, or the retry time). */
  runAt: Date;
  /** Not started after this instant, but recorded `missed`; `null`: no limit. */
  startDeadline: Date | null;
  /** 1 for the first run; increases on every retry, every re-run after abandonment and every hand-back on shutdown. */
  attempt: number;
  /** Runs that may end `failed` or `timed_out` before the job gives up. */
  maxAttempts: number;
  /**
   * Runs so far that ended `failed` or `timed_out`: what `maxAttempts` (the task's `retry.attempts`)
   * counts. Runs that were abandoned or handed back do not count.
   */
  failedRuns: number;
  /** How many more times the job is re-run when the node running it dies. */
  abandonRetries: number;
  /** Copied from the schedule: cap on running jobs of the same schedule (`null` for direct jobs). */
  maxInstances: number | null;
  status: JobStatus;
  acquiredBy: string | null;
  acquiredUntil: Date | null;
  /** When the current attempt was handed to a node (`null` while pending). */
  startedAt: Date | null;
  cancelRequested: boolean;
  createdAt: Date;
}

export interface ExecutionError {
  name: string;
  message: string;
  stack: string | null;
}

/** The record of one run (or non-run) of a job. Outlives the job and the schedule. */
export interface ExecutionRecord {
  id: string;
  jobId: string;
  scheduleId: string | null;
  task: string;
  args: JsonValue;
  fireTime: Date | null;
  /** When the job was due to start. */
  runAt: Date;
  /** `null` when the job never started (`missed`, `skipped`, cancelled before start). */
  startedAt: Date | null;
  finishedAt: Date;
  /** `finishedAt - startedAt` in milliseconds, `null` when it never started. */
  durationMs: number | null;
  outcome: Outcome;
  error: ExecutionError | null;
  /** The task's return value when it succeeded (JSON), else `null`. */
  result: JsonValue;
  /** The node that ran (or judged) it. */
  node: string | null;
  attempt: number;
}

/** A node (running `Scheduler`) as seen by the cluster. */
export interface NodeInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: Date;
  lastSeen: Date;
  /** Jobs this node was running at its last heartbeat. */
  runningJobs: number;
}
