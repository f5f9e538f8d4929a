import { TriggerError } from '../errors.ts';
import type { Trigger } from './trigger.ts';
import type { IntervalTriggerJson } from './trigger-json.ts';
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

/** Units of an interval, largest first, with their length in ms (exact: no calendar involved). */
const UNITS = [
  ['weeks', 604_800_000],
  ['days', 86_400_000],
  ['hours', 3_600_000],
  ['minutes', 60_000],
  ['seconds', 1000],
  ['milliseconds', 1],
] as const;

type IntervalUnit = (typeof UNITS)[number][0];

export type IntervalOptions = TriggerOptions & Partial<Record<IntervalUnit, number>>;

const KEYS = [...COMMON_KEYS, ...UNITS.map(([unit]) => unit)];

/** Longest period accepted: 10,000 years, so period arithmetic stays exact in doubles. */
const MAX_PERIOD_MS = 10_000 * 365.25 * 86_400_000;
const MAX_TIME_MS = 8.64e15;

/**
 * Fires every `period` of exactly elapsed time (a day is 24 hours, DST or not), at
 * `startDate + k * period`. Without a `startDate` it is anchored at the Unix epoch
 * (1970-01-01T00:00:00Z): `{ hours: 6 }` then fires at 00:00, 06:00, 12:00 and 18:00 UTC, the same
 * instants on every node and after every restart, instead of drifting with the moment a process
 * happened to start.
 */
export class IntervalTrigger implements Trigger {
  readonly type = 'interval' as const;
  readonly jitterMs: number;
  /** The period in milliseconds. */
  readonly periodMs: number;
  readonly #json: IntervalTriggerJson;
  readonly #common: CommonFields;
  readonly #anchorMs: number;

  private constructor(json: IntervalTriggerJson, periodMs: number, common: CommonFields) {
    this.#json = Object.freeze(json);
    this.periodMs = periodMs;
    this.#common = common;
    this.#anchorMs = Number.isFinite(common.startMs) ? common.startMs : 0;
    this.jitterMs = common.jitterMs;
  }

  static fromJSON(json: unknown): IntervalTrigger {
    const object = readTriggerObject(json, 'interval');
    rejectUnknownKeys(object, KEYS, 'interval');
    const normalized: Record<string, unknown> = { type: 'interval' };
    let periodMs = 0;
    for (const [unit, length] of UNITS) {
      const value = object[unit];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new TriggerError(`interval "${unit}"`, value, 'must be a finite number >= 0');
      }
      periodMs += value * length;
      normalized[unit] = value;
    }
    if (!(periodMs >= 1 && periodMs <= MAX_PERIOD_MS) || !Number.isInteger(periodMs)) {
      throw new TriggerError(
        'interval',
        json,
        'must have a period of a whole number of milliseconds, at least 1 ms and at most 10,000 years (give weeks, days, hours, minutes, seconds or milliseconds)',
      );
    }
    const common = readCommonFields(object, 'interval');
    Object.assign(normalized, commonJson(common));
    return new IntervalTrigger(normalized as unknown as IntervalTriggerJson, periodMs, common);
  }

  next(after: Date): Date | null {
    const time = timeOf(after);
    const anchor = this.#anchorMs;
    const period = this.periodMs;
    let fire = anchor;
    if (time >= anchor) {
      fire = anchor + (Math.floor((time - anchor) / period) + 1) * period;
      // Doubles lose precision far from the anchor; make sure the result is strictly after.
      while (fire <= time) fire += period;
    }
    return fire > this.#common.endMs || fire > MAX_TIME_MS ? null : new Date(fire);
  }

  toJSON(): IntervalTriggerJson {
    return this.#json;
  }

  describe(): string {
    const parts: string[] = [];
    for (const [unit] of UNITS) {
      const value = this.#json[unit];
      if (value !== undefined && value !== 0) {
        parts.push(`${value} ${value === 1 ? unit.slice(0, -1) : unit}`);
      }
    }
    const period = parts.length === 1 && parts[0]?.startsWith('1 ') ? (parts[0].slice(2) as string) : joinParts(parts);
    const zone = this.#common.timezone === undefined ? '' : ` (${this.#common.timezone})`;
    return `Every ${period}${zone}${describeBounds(this.#common)}`;
  }

  withDefaultTimezone(timezone: string): IntervalTrigger {
    if (this.#common.timezone !== undefined) return this;
    // The period does not depend on the zone; only the dates need reading again.
    const json = { ...this.#json, timezone };
    return new IntervalTrigger(
      json,
      this.periodMs,
      readCommonFields(json as unknown as Record<string, unknown>, 'interval'),
    );
  }
}

function joinParts(parts: readonly string[]): string {
  if (parts.length <= 1) return parts[0] ?? '';
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * A trigger that fires every given period of elapsed time, e.g. `interval({ minutes: 5 })`.
 * Without `startDate` it counts from the Unix epoch, so fire times are the same on every node.
 */
export function interval(options: IntervalOptions): IntervalTrigger {
  if (typeof options !== 'object' || options === null) {
    throw new TriggerError('interval', options, 'must be an object of options');
  }
  return IntervalTrigger.fromJSON({
    ...options,
    type: 'interval',
    startDate: dateInput(options.startDate),
    endDate: dateInput(options.endDate),
  });
}
