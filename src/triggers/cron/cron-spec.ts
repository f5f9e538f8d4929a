import { daysFromCivil, daysInMonth, isoWeekOfDays, weekdayOfDays } from '../../time/wall-time.ts';
import { type CronDayRules, dayRulesMask } from './cron-day-rules.ts';
import { type CronValueSet, hasValue } from './cron-value-set.ts';

/**
 * The compiled form of a cron trigger, shared by the expression form (`0 9 * * mon-fri`) and the
 * field form (`{ hour: 9, dayOfWeek: 'mon-fri' }`). The search (`next-cron-wall-ms.ts`) and the
 * describer (`describe-cron-spec.ts`) only ever see this.
 */
export interface CronSpec {
  readonly form: 'expression' | 'fields';
  readonly second: CronValueSet;
  readonly minute: CronValueSet;
  readonly hour: CronValueSet;
  readonly month: CronValueSet;
  /** Calendar years (1970-9999); `null` when every year is allowed. */
  readonly year: CronValueSet | null;
  /** ISO-8601 week numbers (field form only); `null` when every week is allowed. */
  readonly week: CronValueSet | null;
  readonly dayOfMonth: CronDayRules;
  readonly dayOfWeek: CronDayRules;
  /**
   * How the two day fields combine when both are restricted: `'or'` is the Vixie/POSIX rule of
   * the expression form (a day matches if either field matches), `'and'` is the field form (all
   * fields must match) and the expression form's `+` prefix on day-of-week. An unrestricted
   * field always matches, so the rule only matters when both are restricted.
   */
  readonly dayMatch: 'or' | 'and';
  /** Memo of the last month's day mask: the search asks for the same month again and again. */
  readonly memo: { key: number; mask: number };
}

/** The days of `month` in `year` that the spec allows (bit d-1 for day d). */
export function monthDayMask(spec: CronSpec, year: number, month: number): number {
  const key = year * 16 + month;
  const { memo } = spec;
  if (memo.key === key) return memo.mask;
  const firstDays = daysFromCivil(year, month, 1);
  const firstWeekday = weekdayOfDays(firstDays);
  const byMonth = dayRulesMask(spec.dayOfMonth, year, month, firstWeekday);
  const byWeek = dayRulesMask(spec.dayOfWeek, year, month, firstWeekday);
  let mask =
    spec.dayMatch === 'or' && !spec.dayOfMonth.star && !spec.dayOfWeek.star ? byMonth | byWeek : byMonth & byWeek;
  if (spec.week !== null && mask !== 0) mask &= isoWeekMask(spec.week, year, month, firstDays);
  memo.key = key;
  memo.mask = mask;
  return mask;
}

/** The days of the month whose ISO week number is allowed; week numbers change on Mondays. */
function isoWeekMask(weeks: CronValueSet, year: number, month: number, firstDays: number): number {
  const length = daysInMonth(year, month);
  let mask = 0;
  let allowed = false;
  for (let day = 1; day <= length; day++) {
    const days = firstDays + day - 1;
    if (day === 1 || weekdayOfDays(days) === 1) allowed = hasValue(weeks, isoWeekOfDays(days));
    if (allowed) mask |= 1 << (day - 1);
  }
  return mask;
}
