import type { JsonValue } from '../../common/json-value.ts';
import { storableText } from '../../common/storable-text.ts';
import { pgArrayLiteral } from './pg-arrays.ts';
import type { TriggerJson } from '../../triggers/trigger-json.ts';
import type { ExecutionRecord, JobRecord, NodeInfo, Outcome, ScheduleRecord } from '../records.ts';

/** Rows as node-postgres returns them: timestamptz as Date, json parsed, bigint as string. */
export interface ScheduleRow {
  id: string;
  task: string;
  trigger: TriggerJson;
  args: JsonValue;
  paused: boolean;
  misfire_grace_time: string | null;
  coalesce_policy: string;
  max_instances: number;
  max_jitter: string;
  next_fire_time: Date | null;
  last_fire_time: Date | null;
  acquired_by: string | null;
  acquired_until: Date | null;
  broken_reason: string | null;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

export interface JobRow {
  id: string;
  task: string;
  args: JsonValue;
  schedule_id: string | null;
  fire_time: Date | null;
  run_at: Date;
  start_deadline: Date | null;
  attempt: number;
  max_attempts: number;
  abandon_retries: number;
  failed_runs: number;
  max_instances: number | null;
  status: string;
  acquired_by: string | null;
  acquired_until: Date | null;
  started_at: Date | null;
  cancel_requested: boolean;
  created_at: Date;
}

export interface ExecutionRow {
  id: string;
  job_id: string;
  schedule_id: string | null;
  task: string;
  args: JsonValue;
  fire_time: Date | null;
  run_at: Date;
  started_at: Date | null;
  finished_at: Date;
  duration_ms: string | null;
  outcome: string;
  error_name: string | null;
  error_message: string | null;
  error_stack: string | null;
  result: JsonValue;
  node: string | null;
  attempt: number;
}

export function scheduleFromRow(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    task: row.task,
    trigger: row.trigger,
    args: row.args,
    paused: row.paused,
    misfireGraceTime: row.misfire_grace_time === null ? null : Number(row.misfire_grace_time),
    coalesce: row.coalesce_policy as ScheduleRecord['coalesce'],
    maxInstances: row.max_instances,
    maxJitter: Number(row.max_jitter),
    nextFireTime: row.next_fire_time,
    lastFireTime: row.last_fire_time,
    acquiredBy: row.acquired_by,
    acquiredUntil: row.acquired_until,
    brokenReason: row.broken_reason,
    revision: row.revision,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function jobFromRow(row: JobRow): JobRecord {
  return {
    id: row.id,
    task: row.task,
    args: row.args,
    scheduleId: row.schedule_id,
    fireTime: row.fire_time,
    runAt: row.run_at,
    startDeadline: row.start_deadline,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    failedRuns: row.failed_runs,
    abandonRetries: row.abandon_retries,
    maxInstances: row.max_instances,
    status: row.status as JobRecord['status'],
    acquiredBy: row.acquired_by,
    acquiredUntil: row.acquired_until,
    startedAt: row.started_at,
    cancelRequested: row.cancel_requested,
    createdAt: row.created_at,
  };
}

export function executionFromRow(row: ExecutionRow): ExecutionRecord {
  return {
    id: row.id,
    jobId: row.job_id,
    scheduleId: row.schedule_id,
    task: row.task,
    args: row.args,
    fireTime: row.fire_time,
    runAt: row.run_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    outcome: row.outcome as Outcome,
    error:
      row.error_message === null
        ? null
        : { name: row.error_name ?? 'Error', message: row.error_message, stack: row.error_stack },
    result: row.result,
    node: row.node,
    attempt: row.attempt,
  };
}

export function nodeFromRow(row: {
  id: string;
  host: string;
  pid: number;
  started_at: Date;
  last_seen: Date;
  running_jobs: number;
}): NodeInfo {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    startedAt: row.started_at,
    lastSeen: row.last_seen,
    runningJobs: row.running_jobs,
  };
}

/** Jobs as one JSON array parameter, for set-based inserts (`json_to_recordset`). */
export function jobsJson(jobs: readonly JobRecord[]): string {
  return JSON.stringify(
    jobs.map((job) => ({
      id: job.id,
      task: job.task,
      args: job.args,
      schedule_id: job.scheduleId,
      fire_time: job.fireTime?.toISOString() ?? null,
      run_at: job.runAt.toISOString(),
      start_deadline: job.startDeadline?.toISOString() ?? null,
      attempt: job.attempt,
      max_attempts: job.maxAttempts,
      abandon_retries: job.abandonRetries,
      max_instances: job.maxInstances,
      created_at: job.createdAt.toISOString(),
    })),
  );
}

export const JOB_RECORDSET = `id text, task text, args json, schedule_id text, fire_time timestamptz, run_at timestamptz,
  start_deadline timestamptz, attempt integer, max_attempts integer, abandon_retries integer, max_instances integer,
  created_at timestamptz`;
export const JOB_COLUMNS =
  'id, task, args, schedule_id, fire_time, run_at, start_deadline, attempt, max_attempts, abandon_retries, max_instances, created_at';

/**
 * Executions as one array literal per column (17 parameters), for `INSERT … SELECT … FROM unnest(…)`:
 * PostgreSQL reads typed arrays about twice as fast as a JSON recordset (server time per execution
 * measured 6.4 µs against 11.3 µs), and times travel as epoch milliseconds, not text to parse.
 */
export function executionArrays(executions: readonly ExecutionRecord[]): string[] {
  const column = (pick: (e: ExecutionRecord) => string | number | null) => pgArrayLiteral(executions.map(pick));
  return [
    column((e) => e.id),
    column((e) => e.jobId),
    column((e) => e.scheduleId),
    column((e) => e.task),
    column((e) => JSON.stringify(e.args)),
    column((e) => e.fireTime?.getTime() ?? null),
    column((e) => e.runAt.getTime()),
    column((e) => e.startedAt?.getTime() ?? null),
    column((e) => e.finishedAt.getTime()),
    column((e) => e.durationMs),
    column((e) => e.outcome),
    // Kairos already makes thrown errors storable; this store guards its own columns anyway.
    column((e) => (e.error === null ? null : storableText(e.error.name))),
    column((e) => (e.error === null ? null : storableText(e.error.message))),
    column((e) => (e.error?.stack == null ? null : storableText(e.error.stack))),
    column((e) => JSON.stringify(e.result)),
    column((e) => e.node),
    column((e) => e.attempt),
  ];
}

/**
 * The rows of `executionArrays`, passed as parameters `$first` to `$first + 16`, in `EXECUTION_COLUMNS`
 * order; only those that pass `where` (on the unnested arrays, as `r`), if given.
 */
export function executionRows(first: number, where?: string): string {
  const types = [
    'text',
    'text',
    'text',
    'text',
    'json',
    'float8',
    'float8',
    'float8',
    'float8',
    'bigint',
    'text',
    'text',
    'text',
    'text',
    'json',
    'text',
    'integer',
  ];
  const arrays = types.map((type, offset) => `$${first + offset}::${type}[]`).join(', ');
  return `SELECT id, job_id, schedule_id, task, args, to_timestamp(fire_time / 1000), to_timestamp(run_at / 1000),
      to_timestamp(started_at / 1000), to_timestamp(finished_at / 1000), duration_ms, outcome, error_name, error_message,
      error_stack, result, node, attempt
    FROM unnest(${arrays}) AS r(${EXECUTION_COLUMNS})${where === undefined ? '' : ` WHERE ${where}`}`;
}

export const EXECUTION_COLUMNS =
  'id, job_id, schedule_id, task, args, fire_time, run_at, started_at, finished_at, duration_ms, outcome, error_name, error_message, error_stack, result, node, attempt';
