import { TriggerError } from '../errors.ts';
import {
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  MS_PER_DAY,
  MS_PER_HOUR,
  MS_PER_MINUTE,
  MS_PER_SECOND,
} from '../time/wall-time.ts';
import type { Trigger } from './trigger.ts';
import type { CalendarIntervalTriggerJson } from './trigger-json.ts';
import {
  COMMON_KEYS,
  type CommonFields,
  commonJson,
  dateInput,
  describeBounds,
  readCommonFields,
  readTriggerObject,
  rejectUnknownKeys,
  type TriggerOptions,
  timeOf,
} from './trigger-options.ts';

export interface CalendarIntervalOptions extends TriggerOptions {
  years?: number;
  months?: number;
  weeks?: number;
  days?: number;
  /** Day of the month for month and year intervals. (Default: the start date's day.) */
  day?: number;
  /** (Default: 0.) */
  hour?: number;
  /** (Default: 0.) */
  minute?: number;
  /** (Default: 0.) */
  second?: number;
}

const PERIOD_KEYS = ['years', 'months', 'weeks', 'days'] as const;
const KEYS = [...COMMON_KEYS, ...PERIOD_KEYS, 'day', 'hour', 'minute', 'second'];
const MAX_YEAR = 9999;
/**
 * Consecutive occurrences that may be skipped (a day the month lacks) before giving up: 400
 * years of months covers every month-length and leap-year pattern, so more skips mean never.
 */
const MAX_SKIPS = 4800;

/**
 * Fires on calendar dates a whole number of years, months, weeks and days apart, at a wall-clock
 * time of day in its zone. Occurrence k is the anchor date moved by k × (years, months), on
 * `day` (default: the anchor's day of the month), then by k × (weeks, days). An occurrence whose
 * day does not exist in its month (the 31st of April) is skipped, not moved. The anchor is the
 * start date's date in the zone, or 1970-01-01. The DST rule of DESIGN §3 applies to the time of day.
 */
export class CalendarIntervalTrigger implements Trigger {
  readonly type = 'calendarInterval' as const;
  readonly jitterMs: number;
  readonly #json: CalendarIntervalTriggerJson;
  readonly #common: CommonFields;
  readonly #monthStep: number;
  readonly #dayStep: number;
  readonly #anchorMonthIndex: number;
  readonly #dayOfMonth: number;
  readonly #timeOfDayMs: number;

  private constructor(json: CalendarIntervalTriggerJson, common: CommonFields) {
    this.#json = Object.freeze(json);
    this.#common = common;
    this.jitterMs = common.jitterMs;
    this.#monthStep = (json.years ?? 0) * 12 + (json.months ?? 0);
    this.#dayStep = (json.weeks ?? 0) * 7 + (json.days ?? 0);
    const anchor = Number.isFinite(common.startMs)
      ? civilFromDays(Math.floor(common.zone.toWallMs(common.startMs) / MS_PER_DAY))
      : { year: 1970, month: 1, day: 1 };
    this.#anchorMonthIndex = anchor.year * 12 + anchor.month - 1;
    this.#dayOfMonth = json.day ?? anchor.day;
    this.#timeOfDayMs =
      (json.hour ?? 0) * MS_PER_HOUR + (json.minute ?? 0) * MS_PER_MINUTE + (json.second ?? 0) * MS_PER_SECOND;
  }

  static fromJSON(json: unknown): CalendarIntervalTrigger {
    const object = readTriggerObject(json, 'calendarInterval');
    rejectUnknownKeys(object, KEYS, 'calendarInterval');
    const normalized: Record<string, unknown> = { type: 'calendarInterval' };
    let anyPeriod = false;
    for (const key of PERIOD_KEYS) {
      const value = readInteger(object, key, 0, 10_000);
      if (value !== undefined) normalized[key] = value;
      if (value) anyPeriod = true;
    }
    if (!anyPeriod) {
      throw new TriggerError('calendarInterval', json, 'needs at least one of years, months, weeks or days above 0');
    }
    const day = readInteger(object, 'day', 1, 31);
    if (day !== undefined) {
      if (!object.years && !object.months) {
        throw new TriggerError('calendarInterval "day"', day, 'only applies to intervals of years or months');
      }
      normalized.day = day;
    }
    for (const [key, max] of [
      ['hour', 23],
      ['minute', 59],
      ['second', 59],
    ] as const) {
      const value = readInteger(object, key, 0, max);
      if (value !== undefined) normalized[key] = value;
    }
    const common = readCommonFields(object, 'calendarInterval');
    Object.assign(normalized, commonJson(common));
    return new CalendarIntervalTrigger(normalized as unknown as CalendarIntervalTriggerJson, common);
  }

  next(after: Date): Date | null {
    const { zone, startMs, endMs } = this.#common;
    let time = timeOf(after);
    if (time < startMs) time = startMs - 1;
    // Occurrences more than two days (wall) before `time` resolve to instants before it whatever
    // the offsets, so start the walk at the first occurrence past that point.
    let k = this.#firstAtOrAfter(Math.floor((zone.toWallMs(time) - 2 * MS_PER_DAY) / MS_PER_DAY));
    for (let skips = 0; skips <= MAX_SKIPS; k++) {
      const days = this.#occurrenceDays(k, false);
      if (days === null) return null;
      if (Number.isNaN(days)) {
        skips++;
        continue;
      }
      const fire = zone.fromWallMs(days * MS_PER_DAY + this.#timeOfDayMs);
      if (fire > time) return fire > endMs ? null : new Date(fire);
    }
    return null;
  }

  /**
   * The day number of occurrence k; NaN when its day does not exist in its month (or, with
   * `clamp`, that month's last day instead); null past year 9999.
   */
  #occurrenceDays(k: number, clamp: boolean): number | null {
    const monthIndex = this.#anchorMonthIndex + k * this.#monthStep;
    const year = Math.floor(monthIndex / 12);
    const month = monthIndex - year * 12 + 1;
    const length = daysInMonth(year, month);
    let day = this.#dayOfMonth;
    if (day > length) {
      if (!clamp) return Number.NaN;
      day = length;
    }
    const days = daysFromCivil(year, month, day) + k * this.#dayStep;
    return days > LAST_DAY ? null : days;
  }

  /** The smallest k whose (clamped) occurrence is on or after day number `days`; a binary search. */
  #firstAtOrAfter(days: number): number {
    let low = 0;
    let high = 1;
    // Occurrences only move forward as k grows, so double until past the target (or year 9999).
    for (;;) {
      const at = this.#occurrenceDays(high, true);
      if (at === null || (at as number) >= days) break;
      low = high;
      high *= 2;
    }
    while (low < high) {
      const middle = Math.floor((low + high) / 2);
      const at = this.#occurrenceDays(middle, true);
      if (at === null || (at as number) >= days) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  toJSON(): CalendarIntervalTriggerJson {
    return this.#json;
  }

  describe(): string {
    const json = this.#json;
    const parts: string[] = [];
    for (const key of PERIOD_KEYS) {
      const value = json[key];
      if (value) parts.push(`${value} ${value === 1 ? key.slice(0, -1) : key}`);
    }
    const period = parts.length === 1 && parts[0]?.startsWith('1 ') ? parts[0].slice(2) : joinParts(parts);
    const onDay = json.day === undefined ? '' : ` on day ${json.day} of the month`;
    const second = json.second ? `:${pad(json.second)}` : '';
    const zone = json.timezone ?? this.#common.zone.name;
    return `Every ${period}${onDay} at ${pad(json.hour ?? 0)}:${pad(json.minute ?? 0)}${second} (${zone})${describeBounds(this.#common)}`;
  }

  withDefaultTimezone(timezone: string): CalendarIntervalTrigger {
    if (this.#common.timezone !== undefined) return this;
    return CalendarIntervalTrigger.fromJSON({ ...this.#json, timezone });
  }
}

const LAST_DAY = daysFromCivil(MAX_YEAR, 12, 31);

function readInteger(object: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const value = object[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TriggerError(`calendarInterval "${key}"`, value, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function joinParts(parts: readonly string[]): string {
  if (parts.length <= 1) return parts[0] ?? '';
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

function pad(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

/** A trigger on calendar dates: `calendarInterval({ months: 1, day: 1, hour: 9, timezone: 'Europe/Paris' })`. */
export function calendarInterval(options: CalendarIntervalOptions): CalendarIntervalTrigger {
  if (typeof options !== 'object' || options === null) {
    throw new TriggerError('calendarInterval', options, 'must be an object of options');
  }
  return CalendarIntervalTrigger.fromJSON({
    ...options,
    type: 'calendarInterval',
    startDate: dateInput(options.startDate),
    endDate: dateInput(options.endDate),
  });
}
