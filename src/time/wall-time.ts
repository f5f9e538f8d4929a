/**
 * Wall-clock (civil) time arithmetic on the proleptic Gregorian calendar, without `Date`.
 *
 * A "wall ms" is a wall-clock reading encoded as milliseconds since 1970-01-01T00:00 *as if it
 * were UTC*: it orders and subtracts like an instant, but says nothing about a zone. Cron and
 * calendar triggers search in wall ms and only at the end turn the result into an instant with
 * `TimeZone.fromWallMs`. Working on plain numbers (no `Date`, no `Intl`) keeps the search fast.
 */

export const MS_PER_SECOND = 1000;
export const MS_PER_MINUTE = 60_000;
export const MS_PER_HOUR = 3_600_000;
export const MS_PER_DAY = 86_400_000;

/** A wall-clock reading split into fields; `month` is 1-12, `day` 1-31. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
}

/** A calendar date; `month` is 1-12. */
export interface CivilDate {
  year: number;
  month: number;
  day: number;
}

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const MONTH_LENGTHS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  return month === 2 ? (isLeapYear(year) ? 29 : 28) : (MONTH_LENGTHS[month - 1] ?? 31);
}

/**
 * Days from 1970-01-01 to the given date. Counts in 400-year eras (146,097 days each) with the
 * year starting in March, so February's leap day is the last day of the shifted year and needs
 * no special case. Valid for any integer year, including years before 1 (proleptic calendar).
 */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const shiftedMonth = month > 2 ? month - 3 : month + 9;
  const dayOfYear = Math.floor((153 * shiftedMonth + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The inverse of `daysFromCivil`. */
export function civilFromDays(days: number): CivilDate {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Day of the week of a day number: 0 = Sunday ... 6 = Saturday (1970-01-01 was a Thursday). */
export function weekdayOfDays(days: number): number {
  return (((days + 4) % 7) + 7) % 7;
}

/** ISO-8601 week number (1-53) of a day number: weeks start on Monday, week 1 holds a Thursday. */
export function isoWeekOfDays(days: number): number {
  const isoWeekday = weekdayOfDays(days) || 7;
  const thursday = days - isoWeekday + 4;
  const weekYear = civilFromDays(thursday).year;
  return Math.floor((thursday - daysFromCivil(weekYear, 1, 1)) / 7) + 1;
}

export function wallMsFromFields(time: WallTime): number {
  return (
    daysFromCivil(time.year, time.month, time.day) * MS_PER_DAY +
    time.hour * MS_PER_HOUR +
    time.minute * MS_PER_MINUTE +
    time.second * MS_PER_SECOND +
    time.millisecond
  );
}

export function wallTimeFromMs(wallMs: number): WallTime {
  const days = Math.floor(wallMs / MS_PER_DAY);
  let rest = wallMs - days * MS_PER_DAY;
  const { year, month, day } = civilFromDays(days);
  const hour = Math.floor(rest / MS_PER_HOUR);
  rest -= hour * MS_PER_HOUR;
  const minute = Math.floor(rest / MS_PER_MINUTE);
  rest -= minute * MS_PER_MINUTE;
  const second = Math.floor(rest / MS_PER_SECOND);
  return { year, month, day, hour, minute, second, millisecond: rest - second * MS_PER_SECOND };
}
