import { TriggerError } from '../errors.ts';
import { formatInstant, isoDateToInstant } from '../time/iso-date.ts';
import { getTimeZone, localTimeZoneName, type TimeZone } from '../time/time-zone.ts';
import type { Trigger } from './trigger.ts';
import type { DateTriggerJson } from './trigger-json.ts';
import {
  dateInput,
  readDate,
  readJitter,
  readTimezone,
  readTriggerObject,
  rejectUnknownKeys,
  timeOf,
} from './trigger-options.ts';

const KEYS = ['type', 'runDate', 'timezone', 'jitter'];

export interface DateOptions {
  /** When to fire. A string without offset is wall-clock time in `timezone`. */
  runDate: string | Date;
  /** IANA zone for a `runDate` without offset. (Default: the scheduler's `timezone`.) */
  timezone?: string;
  /** Seconds of random delay the scheduler adds. (Default: 0.) */
  jitter?: number;
}

/** Fires once, at `runDate`. */
export class DateTrigger implements Trigger {
  readonly type = 'date' as const;
  readonly jitterMs: number;
  /** The instant it fires at. */
  readonly runMs: number;
  readonly #json: DateTriggerJson;
  readonly #zone: TimeZone;

  private constructor(json: DateTriggerJson, runMs: number, zone: TimeZone, jitterMs: number) {
    this.#json = Object.freeze(json);
    this.runMs = runMs;
    this.#zone = zone;
    this.jitterMs = jitterMs;
  }

  static fromJSON(json: unknown): DateTrigger {
    const object = readTriggerObject(json, 'date');
    rejectUnknownKeys(object, KEYS, 'date');
    const runDate = readDate(object, 'runDate', 'date');
    if (runDate === undefined) {
      throw new TriggerError('date "runDate"', undefined, 'is required (an ISO-8601 date)');
    }
    const timezone = readTimezone(object, 'date');
    const zone = getTimeZone(timezone ?? localTimeZoneName(), 'date "timezone"');
    const jitter = readJitter(object, 'date');
    const normalized: DateTriggerJson = { type: 'date', runDate: object.runDate as string };
    if (timezone !== undefined) normalized.timezone = timezone;
    if (jitter !== undefined) normalized.jitter = jitter;
    const runMs = isoDateToInstant(runDate, zone);
    if (Math.abs(runMs) > 8.64e15) {
      throw new TriggerError('date "runDate"', object.runDate, 'is outside the range of Date');
    }
    return new DateTrigger(normalized, runMs, zone, jitter === undefined ? 0 : Math.round(jitter * 1000));
  }

  next(after: Date): Date | null {
    return this.runMs > timeOf(after) ? new Date(this.runMs) : null;
  }

  toJSON(): DateTriggerJson {
    return this.#json;
  }

  describe(): string {
    return `Once, at ${formatInstant(this.runMs, this.#zone)} (${this.#json.timezone ?? this.#zone.name})`;
  }

  withDefaultTimezone(timezone: string): DateTrigger {
    if (this.#json.timezone !== undefined) return this;
    return DateTrigger.fromJSON({ ...this.#json, timezone });
  }
}

/** A trigger that fires once: `date('2027-01-01T09:00:00+01:00')`, `date(new Date(...))` or `date({ runDate, timezone })`. */
export function date(runDate: string | Date | DateOptions): DateTrigger {
  const options = typeof runDate === 'string' || runDate instanceof Date ? { runDate } : runDate;
  if (typeof options !== 'object' || options === null) {
    throw new TriggerError('date', runDate, 'must be an ISO-8601 string, a Date or an object with "runDate"');
  }
  return DateTrigger.fromJSON({ ...options, type: 'date', runDate: dateInput(options.runDate) });
}
