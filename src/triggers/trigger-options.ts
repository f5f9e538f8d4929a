import { TriggerError } from '../errors.ts';
import { type IsoDate, isoDateToInstant, parseIsoDate } from '../time/iso-date.ts';
import { getTimeZone, localTimeZoneName, type TimeZone } from '../time/time-zone.ts';

/** Options most triggers accept in the API; dates may be `Date`s, which are stored as UTC ISO strings. */
export interface TriggerOptions {
  /** IANA zone the trigger computes in. (Default: the scheduler's `timezone`, else the process's zone.) */
  timezone?: string;
  /** No fire time before this instant (inclusive). A string without offset is wall-clock time in `timezone`. */
  startDate?: string | Date;
  /** No fire time after this instant (inclusive). A string without offset is wall-clock time in `timezone`. */
  endDate?: string | Date;
  /** Seconds of random delay the scheduler adds to each fire; the trigger never applies it. (Default: 0.) */
  jitter?: number;
}

/**
 * The keys every trigger with a zone shares, validated and resolved: `startMs`/`endMs` are
 * -Infinity/+Infinity when absent. `zone` is the trigger's own zone or, without one, the
 * process's zone (until `withDefaultTimezone` gives it the scheduler's).
 */
export interface CommonFields {
  readonly timezone: string | undefined;
  readonly zone: TimeZone;
  readonly startDate: string | undefined;
  readonly endDate: string | undefined;
  readonly startMs: number;
  readonly endMs: number;
  readonly jitter: number | undefined;
  readonly jitterMs: number;
}

/** The JSON object of a trigger of `type`, or a `TriggerError` saying what it is instead. */
export function readTriggerObject(json: unknown, type: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TriggerError(type, json, 'must be an object');
  }
  const object = json as Record<string, unknown>;
  if (object.type !== type) {
    throw new TriggerError(`${type} "type"`, object.type, `must be "${type}"`);
  }
  return object;
}

/** Typos like `dayofweek` or `startdate` must not be ignored silently. */
export function rejectUnknownKeys(object: Record<string, unknown>, allowed: readonly string[], type: string): void {
  for (const key of Object.keys(object)) {
    // `{ startDate: undefined }` from spread options means "not given", as in JSON.
    if (!allowed.includes(key) && object[key] !== undefined) {
      throw new TriggerError(
        `${type} "${key}"`,
        object[key],
        `is not a key of ${type} triggers (expected one of ${allowed.join(', ')})`,
      );
    }
  }
}

export const COMMON_KEYS = ['type', 'timezone', 'startDate', 'endDate', 'jitter'] as const;

export function readCommonFields(object: Record<string, unknown>, type: string): CommonFields {
  const timezone = readTimezone(object, type);
  const zone = getTimeZone(timezone ?? localTimeZoneName(), `${type} "timezone"`);
  const start = readDate(object, 'startDate', type);
  const end = readDate(object, 'endDate', type);
  const startMs = start === undefined ? Number.NEGATIVE_INFINITY : isoDateToInstant(start, zone);
  const endMs = end === undefined ? Number.POSITIVE_INFINITY : isoDateToInstant(end, zone);
  if (startMs > endMs) {
    throw new TriggerError(`${type} "endDate"`, object.endDate, 'is before "startDate"');
  }
  const jitter = readJitter(object, type);
  return {
    timezone,
    zone,
    startDate: start === undefined ? undefined : (object.startDate as string),
    endDate: end === undefined ? undefined : (object.endDate as string),
    startMs,
    endMs,
    jitter,
    jitterMs: jitter === undefined ? 0 : Math.round(jitter * 1000),
  };
}

export function readTimezone(object: Record<string, unknown>, type: string): string | undefined {
  const value = object.timezone;
  if (value === undefined) return undefined;
  getTimeZone(value, `${type} "timezone"`);
  return value as string;
}

/** Jitter is in seconds (APScheduler's unit); at most a day, which is already far beyond useful. */
export function readJitter(object: Record<string, unknown>, type: string): number | undefined {
  const value = object.jitter;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 86_400) {
    throw new TriggerError(`${type} "jitter"`, value, 'must be a number of seconds from 0 to 86400');
  }
  return value;
}

export function readDate(object: Record<string, unknown>, key: string, type: string): IsoDate | undefined {
  const value = object[key];
  if (value === undefined) return undefined;
  const parsed = typeof value === 'string' ? parseIsoDate(value) : null;
  if (parsed === null) {
    throw new TriggerError(
      `${type} "${key}"`,
      value,
      'is not an ISO-8601 date (e.g. "2027-01-01T09:00:00Z", or without offset for wall-clock time in the trigger\'s zone)',
    );
  }
  return parsed;
}

/** API dates: a `Date` becomes its UTC ISO string, so the JSON form names the same instant. */
export function dateInput(value: unknown): unknown {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? value : value.toISOString();
  return value;
}

/** The common keys of a JSON object, in a stable order, leaving out the absent ones. */
export function commonJson(common: CommonFields): Record<string, string | number> {
  const json: Record<string, string | number> = {};
  if (common.timezone !== undefined) json.timezone = common.timezone;
  if (common.startDate !== undefined) json.startDate = common.startDate;
  if (common.endDate !== undefined) json.endDate = common.endDate;
  if (common.jitter !== undefined) json.jitter = common.jitter;
  return json;
}

/** `next(after)`'s argument as a time value; anything but a valid `Date` is a `TriggerError`. */
export function timeOf(after: unknown): number {
  if (after instanceof Date) {
    const time = after.getTime();
    if (!Number.isNaN(time)) return time;
  }
  throw new TriggerError('next(after)', after, 'must be a valid Date');
}

/** ", from 2027-01-01T00:00:00Z until 2027-12-31T00:00:00Z" for descriptions. */
export function describeBounds(common: CommonFields): string {
  let text = '';
  if (common.startDate !== undefined) text += `, from ${common.startDate}`;
  if (common.endDate !== undefined) text += `, until ${common.endDate}`;
  return text;
}
