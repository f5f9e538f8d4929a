import { TriggerError } from '../../errors.ts';
import { ALL_DAYS, type CronDayRules, createDayRules, type NthWeekday } from './cron-day-rules.ts';
import {
  type CronFieldInfo,
  MONTH_NAMES,
  parseRangeItem,
  parseValue,
  splitList,
  WEEKDAY_NAMES,
} from './cron-field-parser.ts';
import type { CronSpec } from './cron-spec.ts';
import { createValueSet } from './cron-value-set.ts';

/**
 * Parses the expression form (DESIGN §4): 5 fields `minute hour day-of-month month day-of-week`,
 * 6 with seconds first, 7 with a year last; the extensions of Quartz and croner (`L`, `L-n`,
 * `nW`, `LW`, `nL`, `n#k`, `n#L`, `?`) and the `+` prefix on day-of-week for AND. Day-of-week
 * numbers are POSIX: 0 and 7 are Sunday.
 */
export function parseCronExpression(expression: unknown): CronSpec {
  if (typeof expression !== 'string') {
    throw new TriggerError('cron "expression"', expression, 'must be a string');
  }
  if (expression.length > MAX_EXPRESSION_LENGTH) {
    throw new TriggerError('cron "expression"', expression, `is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  }
  const trimmed = expression.trim();
  let text = trimmed;
  if (trimmed.startsWith('@')) {
    const macro = MACROS[trimmed.toLowerCase()];
    if (macro === undefined) {
      throw new TriggerError(
        'cron "expression"',
        expression,
        `is not a known macro (${Object.keys(MACROS).join(', ')})`,
      );
    }
    text = macro;
  }
  const parts = text === '' ? [] : text.split(/\s+/);
  if (parts.length < 5 || parts.length > 7) {
    throw new TriggerError(
      'cron "expression"',
      expression,
      `has ${parts.length} fields; expected 5 (minute hour day-of-month month day-of-week), 6 (with seconds first) or 7 (with a year last)`,
    );
  }
  if (parts.length === 5) parts.unshift('0');
  const [second, minute, hour, dayOfMonth, month, dayOfWeek, year] = parts as string[];
  const weekdays = parseDayOfWeek(dayOfWeek as string);
  return {
    form: 'expression',
    second: numericField(second as string, SECOND),
    minute: numericField(minute as string, MINUTE),
    hour: numericField(hour as string, HOUR),
    month: numericField(month as string, MONTH),
    year: year === undefined || year === '*' ? null : numericField(year, YEAR),
    week: null,
    dayOfMonth: parseDayOfMonth(dayOfMonth as string),
    dayOfWeek: weekdays.rules,
    dayMatch: weekdays.and ? 'and' : 'or',
    memo: { key: -1, mask: 0 },
  };
}

const MAX_EXPRESSION_LENGTH = 1024;

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const SECOND: CronFieldInfo = { label: 'cron field "second"', min: 0, max: 59 };
const MINUTE: CronFieldInfo = { label: 'cron field "minute"', min: 0, max: 59 };
const HOUR: CronFieldInfo = { label: 'cron field "hour"', min: 0, max: 23 };
const DAY_OF_MONTH: CronFieldInfo = { label: 'cron field "dayOfMonth"', min: 1, max: 31 };
const MONTH: CronFieldInfo = { label: 'cron field "month"', min: 1, max: 12, names: MONTH_NAMES };
const YEAR: CronFieldInfo = { label: 'cron field "year"', min: 1970, max: 9999 };
const DAY_OF_WEEK: CronFieldInfo = {
  label: 'cron field "dayOfWeek"',
  min: 0,
  max: 7,
  names: WEEKDAY_NAMES,
  // `fri-sun` is Friday through Sunday: Sunday ends a range as 7.
  rangeEndNames: { sun: 7 },
};

function numericField(text: string, field: CronFieldInfo) {
  if (text === '?') {
    throw new TriggerError(field.label, text, 'is only allowed in day-of-month and day-of-week');
  }
  const values: number[] = [];
  for (const item of splitList(text, field.label)) values.push(...parseRangeItem(item, field));
  return createValueSet(field.min, field.max, values, text === '*');
}

function parseDayOfMonth(text: string): CronDayRules {
  if (text === '*' || text === '?') return createDayRules({ star: true });
  let days = 0;
  let lastWeekday = false;
  const lastDayOffsets: number[] = [];
  const nearestWeekdays: number[] = [];
  for (const item of splitList(text, DAY_OF_MONTH.label)) {
    const upper = item.toUpperCase();
    if (upper === 'L') {
      lastDayOffsets.push(0);
    } else if (upper === 'LW') {
      lastWeekday = true;
    } else if (upper.startsWith('L-')) {
      lastDayOffsets.push(parseValue(item.slice(2), { label: DAY_OF_MONTH.label, min: 0, max: 30 }, false));
    } else if (upper.endsWith('W')) {
      nearestWeekdays.push(parseValue(item.slice(0, -1), DAY_OF_MONTH, false));
    } else {
      for (const day of parseRangeItem(item, DAY_OF_MONTH)) days |= 1 << (day - 1);
    }
  }
  return createDayRules({ days: days & ALL_DAYS, lastDayOffsets, nearestWeekdays, lastWeekday });
}

function parseDayOfWeek(field: string): { rules: CronDayRules; and: boolean } {
  const and = field.startsWith('+');
  const text = and ? field.slice(1) : field;
  if (text === '*' || text === '?') return { rules: createDayRules({ star: true }), and };
  if (text === '') {
    throw new TriggerError(DAY_OF_WEEK.label, field, 'is empty after "+"');
  }
  let weekdays = 0;
  const nthWeekdays: NthWeekday[] = [];
  for (const item of splitList(text, DAY_OF_WEEK.label)) {
    const hash = item.indexOf('#');
    if (hash >= 0) {
      const weekday = parseValue(item.slice(0, hash), DAY_OF_WEEK, false) % 7;
      const nthText = item.slice(hash + 1);
      const nth =
        nthText.toUpperCase() === 'L' ? -1 : parseValue(nthText, { label: DAY_OF_WEEK.label, min: 1, max: 5 }, false);
      nthWeekdays.push({ weekday, nth });
    } else if (item.length > 1 && item.toUpperCase().endsWith('L')) {
      nthWeekdays.push({ weekday: parseValue(item.slice(0, -1), DAY_OF_WEEK, false) % 7, nth: -1 });
    } else if (item.toUpperCase() === 'L') {
      throw new TriggerError(
        DAY_OF_WEEK.label,
        item,
        'is ambiguous: write the weekday whose last occurrence you mean (e.g. "5L" or "FRI#L")',
      );
    } else {
      for (const weekday of parseRangeItem(item, DAY_OF_WEEK)) weekdays |= 1 << (weekday % 7);
    }
  }
  return { rules: createDayRules({ weekdays, nthWeekdays }), and };
}
