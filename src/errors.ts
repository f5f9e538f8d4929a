import { instanceKind, withoutSecrets } from './common/without-secrets.ts';

/**
 * Every error Kairos throws on purpose is a `KairosError` with a stable `code`, so callers can
 * branch on the kind of failure without parsing messages. Messages name the component, the
 * thing and the value (`cron field "hour": 25 is out of range 0-23`).
 */
export class KairosError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A trigger (or its JSON form) is invalid: names the field, the value and what was expected. */
export class TriggerError extends KairosError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string, options?: ErrorOptions) {
    super('TRIGGER_INVALID', `${field}: ${formatValue(value)} ${expected}`, options);
    this.field = field;
    this.value = value;
  }
}

/** An option or argument given to a public entry point is invalid. */
export class ValidationError extends KairosError {
  readonly field: string;
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string, options?: ErrorOptions) {
    super('INVALID_ARGUMENT', `${field}: ${formatValue(value)} ${expected}`, options);
    this.field = field;
    // Kept without its secrets: a logger that writes the error's fields would write them.
    this.value = withoutSecrets(value);
  }
}

/** A job or schedule names a task that is not registered on this scheduler. */
export class TaskNotFoundError extends KairosError {
  readonly task: string;

  constructor(task: string) {
    super('TASK_NOT_FOUND', `task ${JSON.stringify(task)} is not registered on this scheduler`);
    this.task = task;
  }
}

export class ScheduleNotFoundError extends KairosError {
  readonly scheduleId: string;

  constructor(scheduleId: string) {
    super('SCHEDULE_NOT_FOUND', `schedule ${JSON.stringify(scheduleId)} does not exist`);
    this.scheduleId = scheduleId;
  }
}

export class JobNotFoundError extends KairosError {
  readonly jobId: string;

  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `job ${JSON.stringify(jobId)} does not exist`);
    this.jobId = jobId;
  }
}

/** `addSchedule` with `conflict: 'error'` found a schedule with the same id. */
export class ConflictError extends KairosError {
  readonly scheduleId: string;

  constructor(scheduleId: string) {
    super('SCHEDULE_EXISTS', `schedule ${JSON.stringify(scheduleId)} already exists`);
    this.scheduleId = scheduleId;
  }
}

/** A method was called in a scheduler state that does not allow it (e.g. `start()` twice). */
export class SchedulerStateError extends KairosError {
  constructor(message: string, options?: ErrorOptions) {
    super('SCHEDULER_STATE', `scheduler: ${message}`, options);
  }
}

/** The data store failed or holds data it cannot use; `cause` carries the driver's error. */
export class StoreError extends KairosError {
  constructor(message: string, options?: ErrorOptions, code = 'STORE_ERROR') {
    super(code, message, options);
  }
}

/**
 * The store's schema was migrated by a newer Kairos than this one (a deploy rolled back past a
 * migration, or an old node started beside new ones): upgrade Kairos, or restore the schema.
 */
export class SchemaTooNewError extends StoreError {
  /** The version the store's schema is at. */
  readonly schemaVersion: number;
  /** The newest version this Kairos knows. */
  readonly knownVersion: number;

  constructor(message: string, schemaVersion: number, knownVersion: number) {
    super(message, undefined, 'SCHEMA_TOO_NEW');
    this.schemaVersion = schemaVersion;
    this.knownVersion = knownVersion;
  }
}

/** A job ended without a result: `runJob` rejects with this when the job did not succeed. */
export class JobFailedError extends KairosError {
  readonly jobId: string;
  readonly outcome: string;

  constructor(jobId: string, outcome: string, message: string, options?: ErrorOptions) {
    super('JOB_FAILED', `job ${JSON.stringify(jobId)} ended ${outcome}: ${message}`, options);
    this.jobId = jobId;
    this.outcome = outcome;
  }
}

/** Renders a rejected value for an error message without ever throwing or flooding the log. */
export function formatValue(value: unknown): string {
  let text: string;
  try {
    text = describeValue(value);
  } catch {
    // A Proxy or getter that throws: say what it is rather than fail while reporting a failure.
    text = typeof value === 'object' ? 'an object that cannot be inspected' : typeof value;
  }
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(withoutSecrets(value));
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  // JSON would write these as null, which is not what was given.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  // An instance of a class says what it is, not what it holds (see `withoutSecrets`).
  const kind = instanceKind(value);
  if (kind !== null) return kind;
  try {
    return JSON.stringify(withoutSecrets(value)) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
