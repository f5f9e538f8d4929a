import { daysInMonth } from '../../time/wall-time.ts';

/**
 * Which days of a month one day field allows. Both cron forms compile their day-of-month and
 * day-of-week fields into this one shape, so one matcher and one describer serve both:
 * expression `L`, `L-2`, `15W`, `LW`, `FRI#3`, `5L` and field-form `last`, `last fri`, `3rd mon`
 * all become entries here.
 *
 * Day masks are 31-bit integers: bit d-1 stands for day d of the month.
 */
export interface CronDayRules {
  /** Unrestricted (`*`, `?`, or not given): matches every day and does not take part in Vixie's OR. */
  readonly star: boolean;
  /** Explicit days of the month (bit d-1 for day d). */
  readonly days: number;
  /** Days counted back from the month's last day: `L` is 0, `L-3` is 3; field-form `last` is 0. */
  readonly lastDayOffsets: readonly number[];
  /** `15W`: the weekday (Mon-Fri) nearest the 15th, without leaving the month (Quartz rule). */
  readonly nearestWeekdays: readonly number[];
  /** `LW`: the month's last weekday (Mon-Fri). */
  readonly lastWeekday: boolean;
  /** Weekdays that match every week, bit w for weekday w (0 = Sunday ... 6 = Saturday). */
  readonly weekdays: number;
  /** The nth (1-5) or last (-1) given weekday of the month: `FRI#3`, `5L`, `3rd mon`, `last fri`. */
  readonly nthWeekdays: readonly NthWeekday[];
  /** `weekdayMasks[w]`: the days matching `weekdays` in a month whose 1st is weekday w. */
  readonly weekdayMasks: Int32Array;
}

export interface NthWeekday {
  /** 0 = Sunday ... 6 = Saturday. */
  readonly weekday: number;
  /** 1-5, or -1 for the last one of the month. */
  readonly nth: number;
}

export const ALL_DAYS = 0x7fffffff;

export interface DayRulesInit {
  star?: boolean;
  days?: number;
  lastDayOffsets?: readonly number[];
  nearestWeekdays?: readonly number[];
  lastWeekday?: boolean;
  weekdays?: number;
  nthWeekdays?: readonly NthWeekday[];
}

export function createDayRules(init: DayRulesInit): CronDayRules {
  const weekdays = init.weekdays ?? 0;
  const weekdayMasks = new Int32Array(7);
  for (let first = 0; first < 7; first++) {
    let mask = 0;
    for (let day = 1; day <= 31; day++) {
      if (weekdays & (1 << ((first + day - 1) % 7))) mask |= 1 << (day - 1);
    }
    weekdayMasks[first] = mask;
  }
  return {
    star: init.star ?? false,
    days: init.days ?? 0,
    lastDayOffsets: init.lastDayOffsets ?? [],
    nearestWeekdays: init.nearestWeekdays ?? [],
    lastWeekday: init.lastWeekday ?? false,
    weekdays,
    nthWeekdays: init.nthWeekdays ?? [],
    weekdayMasks,
  };
}

export const STAR_DAY_RULES: CronDayRules = createDayRules({ star: true });

/**
 * The days of a month that `rules` allow, as a mask. `firstWeekday` is the weekday of the 1st.
 */
export function dayRulesMask(rules: CronDayRules, year: number, month: number, firstWeekday: number): number {
  const length = daysInMonth(year, month);
  const inMonth = length === 31 ? ALL_DAYS : (1 << length) - 1;
  if (rules.star) return inMonth;
  let mask = rules.days | (rules.weekdayMasks[firstWeekday] as number);
  for (const offset of rules.lastDayOffsets) {
    if (length - offset >= 1) mask |= 1 << (length - offset - 1);
  }
  for (const day of rules.nearestWeekdays) {
    if (day <= length) mask |= 1 << (nearestWeekday(day, length, firstWeekday) - 1);
  }
  if (rules.lastWeekday) mask |= 1 << (nearestWeekday(length, length, firstWeekday) - 1);
  for (const { weekday, nth } of rules.nthWeekdays) {
    const firstOfKind = 1 + ((weekday - firstWeekday + 7) % 7);
    const day = nth > 0 ? firstOfKind + 7 * (nth - 1) : firstOfKind + 7 * Math.floor((length - firstOfKind) / 7);
    if (day <= length) mask |= 1 << (day - 1);
  }
  return mask & inMonth;
}

/**
 * The Mon-Fri day nearest `day` that stays inside the month: a Saturday moves back to Friday
 * unless that leaves the month (the 1st moves on to Monday the 3rd), a Sunday moves on to Monday
 * unless that leaves the month (the last day moves back to Friday).
 */
function nearestWeekday(day: number, length: number, firstWeekday: number): number {
  const weekday = (firstWeekday + day - 1) % 7;
  if (weekday === 6) return day === 1 ? 3 : day - 1;
  if (weekday === 0) return day === length ? day - 2 : day + 1;
  return day;
}
