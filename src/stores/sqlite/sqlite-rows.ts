import type { JsonValue } from '../../common/json-value.ts';
import type { TriggerJson } from '../../triggers/trigger-json.ts';
import type { ExecutionRecord, JobRecord, NodeInfo, Outcome, ScheduleRecord } from '../records.ts';
import type { SqlValue } from './sqlite-connection.ts';

/** Times are INTEGER epoch milliseconds; JSON is TEXT; booleans are 0/1. */
export interface ScheduleRow {
  id: string;
  task: string;
  trigger: string;
  args: string;
  paused: number;
  misfire_grace_time: number | null;
  coalesce: string;
  max_instances: number;
  max_jitter: number;
  next_fire_time: number | null;
  last_fire_time: number | null;
  acquired_by: string | null;
  acquired_until: number | null;
  broken_reason: string | null;
  revision: number;
  created_at: number;
  updated_at: number;
}

export interface JobRow {
  id: string;
  task: string;
  args: string;
  schedule_id: string | null;
  fire_time: number | null;
  run_at: number;
  start_deadline: number | null;
  attempt: number;
  max_attempts: number;
  abandon_retries: number;
  failed_runs: number;
  max_instances: number | null;
  status: string;
  acquired_by: string | null;
  acquired_until: number | null;
  started_at: number | null;
  cancel_requested: number;
  created_at: number;
}

export interface ExecutionRow {
  id: string;
  job_id: string;
  schedule_id: string | null;
  task: string;
  args: string;
  fire_time: number | null;
  run_at: number;
  started_at: number | null;
  finished_at: number;
  duration_ms: number | null;
  outcome: string;
  error_name: string | null;
  error_message: string | null;
  error_stack: string | null;
  result: string;
  node: string | null;
  attempt: number;
}

export interface NodeRow {
  id: string;
  host: string;
  pid: number;
  started_at: number;
  last_seen: number;
  running_jobs: number;
}

const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));
export const ms = (value: Date | null): number | null => (value === null ? null : value.getTime());

/**
 * A JSON column that cannot be parsed (edited by hand, written by something else) must not take
 * the store down: the value reads as null and the reason is reported to the caller.
 */
function parseJson(text: string, column: string, problems: string[]): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    problems.push(`${column} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    return null;
  }
}

export function scheduleFromRow(row: ScheduleRow): ScheduleRecord {
  const problems: string[] = [];
  const trigger = parseJson(row.trigger, 'trigger', problems);
  const args = parseJson(row.args, 'args', problems);
  const unreadable = problems.length > 0 ? `stored ${problems.join('; ')}` : null;
  return {
    id: row.id,
    task: row.task,
    trigger: (trigger ?? { type: 'unreadable', text: row.trigger }) as unknown as TriggerJson,
    args,
    paused: row.paused === 1,
    misfireGraceTime: row.misfire_grace_time,
    coalesce: row.coalesce as ScheduleRecord['coalesce'],
    maxInstances: row.max_instances,
    maxJitter: row.max_jitter,
    nextFireTime: date(row.next_fire_time),
    lastFireTime: date(row.last_fire_time),
    acquiredBy: row.acquired_by,
    acquiredUntil: date(row.acquired_until),
    brokenReason: row.broken_reason ?? unreadable,
    revision: row.revision,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function jobFromRow(row: JobRow): JobRecord {
  const problems: string[] = [];
  return {
    id: row.id,
    task: row.task,
    args: parseJson(row.args, 'args', problems),
    scheduleId: row.schedule_id,
    fireTime: date(row.fire_time),
    runAt: new Date(row.run_at),
    startDeadline: date(row.start_deadline),
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    failedRuns: row.failed_runs,
    abandonRetries: row.abandon_retries,
    maxInstances: row.max_instances,
    status: row.status as JobRecord['status'],
    acquiredBy: row.acquired_by,
    acquiredUntil: date(row.acquired_until),
    startedAt: date(row.started_at),
    cancelRequested: row.cancel_requested === 1,
    createdAt: new Date(row.created_at),
  };
}

export function jobValues(job: JobRecord): SqlValue[] {
  return [
    job.id,
    job.task,
    JSON.stringify(job.args),
    job.scheduleId,
    ms(job.fireTime),
    job.runAt.getTime(),
    ms(job.startDeadline),
    job.attempt,
    job.maxAttempts,
    job.abandonRetries,
    job.maxInstances,
    job.createdAt.getTime(),
  ];
}

export const JOB_INSERT_COLUMNS =
  'id, task, args, schedule_id, fire_time, run_at, start_deadline, attempt, max_attempts, abandon_retries, max_instances, created_at, status';

export function executionFromRow(row: ExecutionRow): ExecutionRecord {
  const problems: string[] = [];
  return {
    id: row.id,
    jobId: row.job_id,
    scheduleId: row.schedule_id,
    task: row.task,
    args: parseJson(row.args, 'args', problems),
    fireTime: date(row.fire_time),
    runAt: new Date(row.run_at),
    startedAt: date(row.started_at),
    finishedAt: new Date(row.finished_at),
    durationMs: row.duration_ms,
    outcome: row.outcome as Outcome,
    error:
      row.error_message === null
        ? null
        : { name: row.error_name ?? 'Error', message: row.error_message, stack: row.error_stack },
    result: parseJson(row.result, 'result', problems),
    node: row.node,
    attempt: row.attempt,
  };
}

export const EXECUTION_COLUMNS =
  'id, job_id, schedule_id, task, args, fire_time, run_at, started_at, finished_at, duration_ms, outcome, error_name, error_message, error_stack, result, node, attempt';

export function executionValues(execution: ExecutionRecord): SqlValue[] {
  return [
    execution.id,
    execution.jobId,
    execution.scheduleId,
    execution.task,
    JSON.stringify(execution.args),
    ms(execution.fireTime),
    execution.runAt.getTime(),
    ms(execution.startedAt),
    execution.finishedAt.getTime(),
    execution.durationMs,
    execution.outcome,
    execution.error?.name ?? null,
    execution.error?.message ?? null,
    execution.error?.stack ?? null,
    JSON.stringify(execution.result),
    execution.node,
    execution.attempt,
  ];
}

export function nodeFromRow(row: NodeRow): NodeInfo {
  return {
    id: row.id,
    host: row.host,
    pid: row.pid,
    startedAt: new Date(row.started_at),
    lastSeen: new Date(row.last_seen),
    runningJobs: row.running_jobs,
  };
}
