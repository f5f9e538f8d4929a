import { ValidationError } from '../errors.ts';
import type { ExecutionQuery, JobQuery, ScheduleQuery } from '../stores/queries.ts';
import { JobStatus, OUTCOMES } from '../stores/records.ts';
import { objectArgument } from './call-arguments.ts';

/**
 * Checks of the listing queries (`getSchedules`, `getJobs`, `getExecutions`) field by field, so
 * that a wrong one is a `ValidationError` naming it, the same on every store: a database would
 * otherwise refuse it with an error of its own, or read it its own way (a date string in the
 * session's time zone), and a misspelt field would quietly list everything.
 */

type FieldCheck = (name: string, value: unknown) => void;

const text: FieldCheck = (name, value) => {
  if (typeof value !== 'string' || value.includes('\u0000')) {
    throw new ValidationError(name, value, 'must be a string without NUL characters');
  }
};

const texts: FieldCheck = (name, value) => {
  if (!Array.isArray(value)) throw new ValidationError(name, value, 'must be an array of strings');
  value.forEach((item, index) => text(`${name}[${index}]`, item));
};

const flag: FieldCheck = (name, value) => {
  if (typeof value !== 'boolean') throw new ValidationError(name, value, 'must be true or false');
};

const date: FieldCheck = (name, value) => {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new ValidationError(name, value, 'must be a valid Date');
  }
};

const oneOf =
  (allowed: readonly string[]): FieldCheck =>
  (name, value) => {
    if (!allowed.includes(value as string)) {
      throw new ValidationError(name, value, `must be one of ${allowed.join(', ')}`);
    }
  };

const outcomes: FieldCheck = (name, value) => {
  if (Array.isArray(value)) value.forEach((item, index) => oneOf(OUTCOMES)(`${name}[${index}]`, item));
  else oneOf(OUTCOMES)(name, value);
};

/** `limit` and `cursor` are checked by the stores' paging, which knows its cursors' shapes. */
const paging: Record<string, FieldCheck> = { limit: () => {}, cursor: () => {} };

function checked<Query extends object>(
  what: string,
  query: Query | undefined,
  fields: Record<string, FieldCheck>,
): Query {
  const given = objectArgument(what, query);
  for (const [name, value] of Object.entries(given)) {
    const check = fields[name];
    if (check === undefined) {
      throw new ValidationError(`${what} field`, name, `is not one; use ${Object.keys(fields).join(', ')}`);
    }
    if (value !== undefined) check(`${what} ${name}`, value);
  }
  return given;
}

export function scheduleQueryArgument(query: ScheduleQuery | undefined): ScheduleQuery {
  return checked('schedule query', query, { ids: texts, task: text, paused: flag, ...paging });
}

export function jobQueryArgument(query: JobQuery | undefined): JobQuery {
  const statuses = Object.values(JobStatus);
  return checked('job query', query, {
    ids: texts,
    task: text,
    scheduleId: text,
    status: oneOf(statuses),
    ...paging,
  });
}

export function executionQueryArgument(query: ExecutionQuery | undefined): ExecutionQuery {
  return checked('execution query', query, {
    jobId: text,
    scheduleId: text,
    task: text,
    outcome: outcomes,
    from: date,
    to: date,
    ...paging,
  });
}
