import { assertJsonValue, type JsonValue } from '../common/json-value.ts';
import { uuidv7 } from '../common/uuid.ts';
import { ValidationError } from '../errors.ts';
import type { JobRecord } from '../stores/records.ts';
import { type Duration, parseDuration } from '../time/duration.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import { jobIdArgument } from './call-arguments.ts';

export interface AddJobOptions {
  /** JSON arguments for the task. */
  args?: unknown;
  /** Not before this instant. (Default: now.) */
  runAt?: Date | string;
  /** Not before now + this; an alternative to `runAt`. */
  delay?: Duration;
  /** A job not started this long after `runAt` is recorded `missed`. (Default: no limit.) */
  misfireGraceTime?: Duration;
  /** (Default: a new UUID v7.) */
  id?: string;
  /** The caller's open transaction (SQL stores only): the job exists only if it commits. */
  tx?: unknown;
}

export interface NewJobFields {
  task: string;
  args: JsonValue;
  now: number;
  runAt: number;
  /** Milliseconds after `runAt` the job may still start; `null`: no limit. */
  misfireGraceTime: number | null;
  scheduleId?: string;
  fireTime?: number;
  maxInstances?: number;
}

/** A pending job, with the retry budgets of its task as registered on this node. */
export function newJobRecord(runtime: Pick<SchedulerRuntime, 'tasks' | 'options'>, fields: NewJobFields): JobRecord {
  const task = runtime.tasks.get(fields.task);
  return {
    id: uuidv7(fields.now),
    task: fields.task,
    args: fields.args,
    scheduleId: fields.scheduleId ?? null,
    fireTime: fields.fireTime === undefined ? null : new Date(fields.fireTime),
    runAt: new Date(fields.runAt),
    startDeadline: fields.misfireGraceTime === null ? null : new Date(fields.runAt + fields.misfireGraceTime),
    attempt: 1,
    maxAttempts: task?.retry.attempts ?? 1,
    failedRuns: 0,
    abandonRetries: task?.retry.abandoned ?? runtime.options.defaultAbandonRetries,
    maxInstances: fields.maxInstances ?? null,
    status: 'pending',
    acquiredBy: null,
    acquiredUntil: null,
    startedAt: null,
    cancelRequested: false,
    createdAt: new Date(fields.now),
  };
}

/** The job `addJob` and `runJob` add, from their validated options. */
export function jobFromOptions(
  task: string,
  options: AddJobOptions,
  now: number,
  runtime: Pick<SchedulerRuntime, 'tasks' | 'options'>,
): JobRecord {
  if (typeof options !== 'object' || options === null)
    throw new ValidationError('job options', options, 'must be an object');
  const job = newJobRecord(runtime, {
    task,
    args: assertJsonValue('args', options.args),
    now,
    runAt: runAtOf(options, now),
    misfireGraceTime:
      options.misfireGraceTime === undefined ? null : parseDuration('misfireGraceTime', options.misfireGraceTime),
  });
  if (options.id !== undefined) job.id = jobIdArgument(options.id);
  return job;
}

/** 9999-12-31T23:59:59.999Z. */
const LATEST_RUN_AT = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** 0001-01-01T00:00:00.000Z: the first instant of a four-digit ISO year, as databases write them. */
const EARLIEST_RUN_AT = new Date('0001-01-01T00:00:00.000Z').getTime();

function runAtOf(options: AddJobOptions, now: number): number {
  if (options.runAt === undefined)
    return options.delay === undefined ? now : now + parseDuration('delay', options.delay);
  if (options.delay !== undefined) throw new ValidationError('delay', options.delay, 'cannot be combined with runAt');
  const runAt =
    options.runAt instanceof Date
      ? options.runAt.getTime()
      : typeof options.runAt === 'string'
        ? Date.parse(options.runAt)
        : Number.NaN;
  if (Number.isNaN(runAt)) throw new ValidationError('runAt', options.runAt, 'must be a valid Date or ISO-8601 string');
  // A later one, plus a grace time or a retry back-off, would leave the dates JavaScript can hold.
  if (runAt > LATEST_RUN_AT || runAt < EARLIEST_RUN_AT) {
    throw new ValidationError('runAt', options.runAt, 'must be in the years 1 to 9999');
  }
  return runAt;
}
