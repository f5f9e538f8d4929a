import { MS_PER_SECOND, wallMsFromFields, wallTimeFromMs } from '../../time/wall-time.ts';
import { type CronSpec, monthDayMask } from './cron-spec.ts';
import { nextValue } from './cron-value-set.ts';

/** Cron searches stop at the end of year 9999 (the year field's range, as in APScheduler). */
export const MAX_CRON_YEAR = 9999;

/**
 * The Gregorian calendar repeats every 400 years (146,097 days, exactly 20,871 weeks), and so do
 * day-of-month, day-of-week and ISO-week patterns. A search with an unrestricted year field that
 * finds nothing within 400 years after its start year never will: `0 0 30 2 *` returns null
 * after about 400 cheap month checks instead of running on.
 */
const CALENDAR_CYCLE_YEARS = 400;

/**
 * The smallest wall time (wall ms, whole seconds) strictly after `afterWallMs` that `spec`
 * matches, or null if there is none before year 10000.
 *
 * It moves field by field from the most significant down, and when a field has no allowed value
 * left it carries into the next larger unit and resets the smaller ones. Months are skipped with
 * one table read, days with one bit scan over the month's day mask, hours, minutes and seconds
 * with a table read each, so the cost does not depend on how far away the next match is.
 */
export function nextCronWallMs(spec: CronSpec, afterWallMs: number): number | null {
  const start = Math.floor(afterWallMs / MS_PER_SECOND) * MS_PER_SECOND + MS_PER_SECOND;
  let { year, month, day, hour, minute, second } = wallTimeFromMs(start);

  const lastYear = spec.year === null ? year + CALENDAR_CYCLE_YEARS + 1 : MAX_CRON_YEAR;
  const monthNext = spec.month.next;
  const hourNext = spec.hour.next;
  const minuteNext = spec.minute.next;
  const secondNext = spec.second.next;
  let checkedYear = Number.NaN;

  for (;;) {
    if (year !== checkedYear) {
      if (year > lastYear || year > MAX_CRON_YEAR) return null;
      if (spec.year !== null) {
        const allowed = nextValue(spec.year, year);
        if (allowed < 0) return null;
        if (allowed !== year) {
          year = allowed;
          month = 1;
          day = 1;
          hour = 0;
          minute = 0;
          second = 0;
        }
      }
      checkedYear = year;
    }

    const nextMonth = monthNext[month - 1] as number; // month set min is 1
    if (nextMonth < 0) {
      year++;
      month = 1;
      day = 1;
      hour = 0;
      minute = 0;
      second = 0;
      continue;
    }
    if (nextMonth !== month) {
      month = nextMonth;
      day = 1;
      hour = 0;
      minute = 0;
      second = 0;
    }

    const days = monthDayMask(spec, year, month) >>> (day - 1);
    if (days === 0 || day > 31) {
      month++;
      day = 1;
      hour = 0;
      minute = 0;
      second = 0;
      continue;
    }
    if ((days & 1) === 0) {
      day += 31 - Math.clz32(days & -days);
      hour = 0;
      minute = 0;
      second = 0;
    }

    const nextHour = hourNext[hour] as number;
    if (nextHour < 0) {
      day++;
      hour = 0;
      minute = 0;
      second = 0;
      continue;
    }
    if (nextHour !== hour) {
      hour = nextHour;
      minute = 0;
      second = 0;
    }

    const nextMinute = minuteNext[minute] as number;
    if (nextMinute < 0) {
      hour++;
      minute = 0;
      second = 0;
      continue;
    }
    if (nextMinute !== minute) {
      minute = nextMinute;
      second = 0;
    }

    const nextSecond = secondNext[second] as number;
    if (nextSecond < 0) {
      minute++;
      second = 0;
      continue;
    }
    return wallMsFromFields({ year, month, day, hour, minute, second: nextSecond, millisecond: 0 });
  }
}
