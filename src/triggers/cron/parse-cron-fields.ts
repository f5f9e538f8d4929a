import { TriggerError } from '../../errors.ts';
import type { CronFieldValue } from '../trigger-json.ts';
import { type CronDayRules, createDayRules, type NthWeekday } from './cron-day-rules.ts';
import { type CronFieldInfo, MONTH_NAMES, parseRangeItem, splitList, WEEKDAY_NAMES } from './cron-field-parser.ts';
import type { CronSpec } from './cron-spec.ts';
import { type CronValueSet, createValueSet } from './cron-value-set.ts';

/** The field form's fields, most significant first (APScheduler's order, camelCased). */
export const CRON_FIELD_NAMES = ['year', 'month', 'day', 'week', 'dayOfWeek', 'hour', 'minute', 'second'] as const;

export type CronFieldName = (typeof CRON_FIELD_NAMES)[number];

export type CronFields = Partial<Record<CronFieldName, CronFieldValue>>;

/**
 * Defaults of fields less significant than the least significant given field (APScheduler's
 * rule): `{ month: 6 }` fires on June 1st at 00:00:00, not every second of June. Fields more
 * significant than it are `*`. `week` and `dayOfWeek` are always `*` when not given.
 */
const LOWER_DEFAULTS: Readonly<Record<CronFieldName, string>> = {
  year: '*',
  month: '1',
  day: '1',
  week: '*',
  dayOfWeek: '*',
  hour: '0',
  minute: '0',
  second: '0',
};

/**
 * Parses the field form (DESIGN §4): APScheduler's `CronTrigger` fields camelCased, each a string
 * or number in APScheduler's syntax, all combined with AND. Day-of-week *numbers* follow
 * APScheduler (0 = Monday ... 6 = Sunday), unlike the expression form's POSIX numbers; names mean
 * the same in both forms.
 */
export function parseCronFields(fields: CronFields): CronSpec {
  let lastGiven = -1;
  CRON_FIELD_NAMES.forEach((name, index) => {
    if (fields[name] !== undefined) lastGiven = index;
  });
  if (lastGiven < 0) {
    throw new TriggerError(
      'cron',
      fields,
      `needs an "expression" or at least one of the fields ${CRON_FIELD_NAMES.join(', ')}`,
    );
  }
  const text = {} as Record<CronFieldName, string>;
  CRON_FIELD_NAMES.forEach((name, index) => {
    const value = fields[name];
    text[name] = value === undefined ? (index < lastGiven ? '*' : LOWER_DEFAULTS[name]) : fieldText(name, value);
  });
  return {
    form: 'fields',
    second: numericField(text.second, FIELDS.second),
    minute: numericField(text.minute, FIELDS.minute),
    hour: numericField(text.hour, FIELDS.hour),
    month: numericField(text.month, FIELDS.month),
    year: text.year === '*' ? null : numericField(text.year, FIELDS.year),
    week: text.week === '*' ? null : numericField(text.week, FIELDS.week),
    dayOfMonth: parseDay(text.day),
    dayOfWeek: parseDayOfWeek(text.dayOfWeek),
    dayMatch: 'and',
    memo: { key: -1, mask: 0 },
  };
}

/** APScheduler's weekday numbers: Monday is 0. */
const MONDAY_FIRST_NAMES: Readonly<Record<string, number>> = {
  mon: 0,
  tue: 1,
  wed: 2,
  thu: 3,
  fri: 4,
  sat: 5,
  sun: 6,
};

const FIELDS: Readonly<Record<CronFieldName, CronFieldInfo>> = {
  year: { label: 'cron field "year"', min: 1970, max: 9999 },
  month: { label: 'cron field "month"', min: 1, max: 12, names: MONTH_NAMES },
  day: { label: 'cron field "day"', min: 1, max: 31 },
  week: { label: 'cron field "week"', min: 1, max: 53 },
  dayOfWeek: { label: 'cron field "dayOfWeek"', min: 0, max: 6, names: MONDAY_FIRST_NAMES },
  hour: { label: 'cron field "hour"', min: 0, max: 23 },
  minute: { label: 'cron field "minute"', min: 0, max: 59 },
  second: { label: 'cron field "second"', min: 0, max: 59 },
};

const MAX_FIELD_LENGTH = 512;

function fieldText(name: CronFieldName, value: unknown): string {
  const { label } = FIELDS[name];
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TriggerError(label, value, 'must be an integer');
    return String(value);
  }
  if (typeof value !== 'string') {
    throw new TriggerError(label, value, 'must be a string or a number');
  }
  if (value.length > MAX_FIELD_LENGTH) {
    throw new TriggerError(label, value, `is longer than ${MAX_FIELD_LENGTH} characters`);
  }
  const trimmed = value.trim();
  if (trimmed === '') throw new TriggerError(label, value, 'is empty');
  return trimmed;
}

function numericField(text: string, field: CronFieldInfo): CronValueSet {
  const values: number[] = [];
  for (const item of splitList(text, field.label)) values.push(...parseRangeItem(item, field));
  return createValueSet(field.min, field.max, values, text === '*');
}

const NTH_WEEKDAY = /^(1st|2nd|3rd|4th|5th|last)\s+([a-z]+)$/i;
const NTH_NUMBERS: Readonly<Record<string, number>> = {
  '1st': 1,
  '2nd': 2,
  '3rd': 3,
  '4th': 4,
  '5th': 5,
  last: -1,
};

/** `day`: numbers 1-31 and ranges, plus `last`, `last fri` and `1st`..`5th` weekday. */
function parseDay(text: string): CronDayRules {
  if (text === '*') return createDayRules({ star: true });
  const { label } = FIELDS.day;
  let days = 0;
  const lastDayOffsets: number[] = [];
  const nthWeekdays: NthWeekday[] = [];
  for (const item of splitList(text, label)) {
    const nth = NTH_WEEKDAY.exec(item);
    if (item.toLowerCase() === 'last') {
      lastDayOffsets.push(0);
    } else if (nth !== null) {
      const weekday = WEEKDAY_NAMES[(nth[2] as string).toLowerCase()];
      if (weekday === undefined) {
        throw new TriggerError(label, item, 'names no weekday: expected mon, tue, ... or sun');
      }
      nthWeekdays.push({ weekday, nth: NTH_NUMBERS[(nth[1] as string).toLowerCase()] ?? -1 });
    } else {
      for (const day of parseRangeItem(item, FIELDS.day)) days |= 1 << (day - 1);
    }
  }
  return createDayRules({ days, lastDayOffsets, nthWeekdays });
}

/** `dayOfWeek`: APScheduler numbers (Monday = 0), turned into the Sunday = 0 bits used inside. */
function parseDayOfWeek(text: string): CronDayRules {
  if (text === '*') return createDayRules({ star: true });
  let weekdays = 0;
  for (const item of splitList(text, FIELDS.dayOfWeek.label)) {
    for (const mondayFirst of parseRangeItem(item, FIELDS.dayOfWeek)) {
      weekdays |= 1 << ((mondayFirst + 1) % 7);
    }
  }
  return createDayRules({ weekdays });
}
