import type { CronDayRules, NthWeekday } from './cron-day-rules.ts';
import type { CronSpec } from './cron-spec.ts';
import type { CronValueSet } from './cron-value-set.ts';

/**
 * An English sentence for a compiled cron spec (either form), without the zone, which the
 * trigger appends: `At 00:00, Monday through Friday`, `Every 5 minutes`,
 * `At minute 0 past every 2nd hour`. It reads the value sets, not the source text, so `1-5`,
 * `mon-fri` and `{ dayOfWeek: '0-4' }` all read the same.
 */
export function describeCronSpec(spec: CronSpec): string {
  return `${describeTime(spec)}${describeDays(spec)}${describeWeeks(spec)}${describeMonths(spec)}${describeYears(spec)}`;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  '',
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const NTH_WORDS = ['', 'first', 'second', 'third', 'fourth', 'fifth'];

function describeTime(spec: CronSpec): string {
  const { second, minute, hour } = spec;
  const combinations = second.values.length * minute.values.length * hour.values.length;
  if (!second.star && !minute.star && !hour.star && combinations <= 4) {
    const withSeconds = second.values.some((value) => value !== 0);
    const times: string[] = [];
    for (const h of hour.values) {
      for (const m of minute.values) {
        for (const s of second.values) {
          times.push(`${pad(h)}:${pad(m)}${withSeconds ? `:${pad(s)}` : ''}`);
        }
      }
    }
    return `At ${joinList(times)}`;
  }
  const onTheMinute = second.values.length === 1 && second.values[0] === 0;
  if (!onTheMinute) {
    const lead = everyOrAt(second, 'second');
    const minutes = minute.star ? '' : `, during ${valuePhrase(minute, 'minute', String)}`;
    return `${lead}${minutes}${hourRange(hour)}`;
  }
  if (minute.star || stepFromMin(minute) > 1) return `${everyOrAt(minute, 'minute')}${hourRange(hour)}`;
  return `At ${valuePhrase(minute, 'minute', String)} past ${valuePhrase(hour, 'hour', String)}`;
}

/** `Every second`, `Every 10 seconds`, `At second 30`, `At seconds 0 through 9`. */
function everyOrAt(set: CronValueSet, noun: string): string {
  if (set.star || set.values.length === set.max - set.min + 1) return `Every ${noun}`;
  const step = stepFromMin(set);
  if (step > 1) return `Every ${step} ${noun}s`;
  return `At ${valuePhrase(set, noun, String)}`;
}

/** The hour qualifier after an "every ..." lead: `, between 09:00 and 17:59`, `, every 2nd hour`. */
function hourRange(hour: CronValueSet): string {
  if (hour.star || hour.values.length === 24) return '';
  const runs = toRuns(hour.values);
  if (runs.length === 1) {
    const [first, last] = runs[0] as [number, number];
    return `, between ${pad(first)}:00 and ${pad(last)}:59`;
  }
  const phrase = valuePhrase(hour, 'hour', String);
  return phrase.startsWith('every') ? `, ${phrase}` : `, during ${phrase}`;
}

function describeDays(spec: CronSpec): string {
  const byMonth = spec.dayOfMonth.star ? '' : dayOfMonthPhrase(spec.dayOfMonth);
  const byWeek = spec.dayOfWeek.star ? '' : dayOfWeekPhrase(spec.dayOfWeek);
  if (byMonth === '' || byWeek === '') return byMonth || byWeek ? `, ${byMonth || byWeek}` : '';
  return spec.dayMatch === 'or' ? `, ${byMonth} or ${byWeek}` : `, ${byMonth}, only ${byWeek}`;
}

function dayOfMonthPhrase(rules: CronDayRules): string {
  const items: string[] = [];
  const days: number[] = [];
  for (let day = 1; day <= 31; day++) if (rules.days & (1 << (day - 1))) days.push(day);
  if (days.length > 0) {
    const set: CronValueSet = {
      min: 1,
      max: 31,
      values: days,
      star: false,
      next: new Int16Array(0),
    };
    items.push(`on ${valuePhrase(set, 'day', String)} of the month`);
  }
  for (const offset of rules.lastDayOffsets) {
    items.push(
      offset === 0 ? 'on the last day of the month' : `on the ${ordinal(offset + 1)}-to-last day of the month`,
    );
  }
  for (const day of rules.nearestWeekdays) {
    items.push(`on the weekday nearest day ${day} of the month`);
  }
  if (rules.lastWeekday) items.push('on the last weekday of the month');
  items.push(...rules.nthWeekdays.map(nthPhrase));
  return joinList(items);
}

function dayOfWeekPhrase(rules: CronDayRules): string {
  const items: string[] = [];
  // Monday first, so Monday-Friday reads as one run and Saturday-Sunday as another.
  const mondayFirst: number[] = [];
  for (let day = 1; day <= 7; day++) if (rules.weekdays & (1 << (day % 7))) mondayFirst.push(day);
  if (mondayFirst.length > 0) {
    const runs = toRuns(mondayFirst);
    const name = (day: number) => WEEKDAYS[day % 7] as string;
    const phrase = joinList(
      runs.map(([first, last]) =>
        first === last
          ? name(first)
          : last === first + 1
            ? `${name(first)} and ${name(last)}`
            : `${name(first)} through ${name(last)}`,
      ),
    );
    const onlyOneRange = runs.length === 1 && (runs[0] as [number, number])[1] - (runs[0] as [number, number])[0] >= 2;
    items.push(onlyOneRange ? phrase : `on ${phrase}`);
  }
  items.push(...rules.nthWeekdays.map(nthPhrase));
  return joinList(items);
}

function nthPhrase({ weekday, nth }: NthWeekday): string {
  const which = nth < 0 ? 'last' : NTH_WORDS[nth];
  return `on the ${which} ${WEEKDAYS[weekday]} of the month`;
}

function describeWeeks(spec: CronSpec): string {
  return spec.week === null ? '' : `, in ${valuePhrase(spec.week, 'ISO week', String)}`;
}

function describeMonths(spec: CronSpec): string {
  const { month } = spec;
  if (month.star || month.values.length === 12) return '';
  return `, in ${namedList(month.values, (value) => MONTHS[value] as string)}`;
}

function describeYears(spec: CronSpec): string {
  return spec.year === null ? '' : `, in ${valuePhrase(spec.year, 'year', String)}`;
}

/**
 * `minute 5`, `minutes 0, 15 and 30`, `minutes 10 through 20`, `every 2nd hour`,
 * `every 3rd hour from 1 through 22`.
 */
function valuePhrase(set: CronValueSet, noun: string, format: (value: number) => string): string {
  const { values } = set;
  if (set.star || values.length === set.max - set.min + 1) return `every ${noun}`;
  if (values.length === 1) return `${noun} ${format(values[0] as number)}`;
  const step = arithmeticStep(values);
  if (step > 1 && values.length > 2) {
    const first = values[0] as number;
    const last = values[values.length - 1] as number;
    if (first === set.min && last + step > set.max) return `every ${ordinal(step)} ${noun}`;
    return `every ${ordinal(step)} ${noun} from ${format(first)} through ${format(last)}`;
  }
  return `${noun}s ${namedList(values, format)}`;
}

/** The step when `values` (3 or more) start at the field's minimum and run to its end evenly. */
function stepFromMin(set: CronValueSet): number {
  const { values } = set;
  if (values.length < 2 || values[0] !== set.min) return 0;
  const step = arithmeticStep(values);
  return step > 1 && (values[values.length - 1] as number) + step > set.max ? step : 0;
}

function arithmeticStep(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const step = (values[1] as number) - (values[0] as number);
  for (let index = 2; index < values.length; index++) {
    if ((values[index] as number) - (values[index - 1] as number) !== step) return 0;
  }
  return step;
}

/** `January through March and July`: runs of three or more read as ranges. */
function namedList(values: readonly number[], format: (value: number) => string): string {
  const parts: string[] = [];
  for (const [first, last] of toRuns(values)) {
    if (last - first >= 2) parts.push(`${format(first)} through ${format(last)}`);
    else for (let value = first; value <= last; value++) parts.push(format(value));
  }
  return joinList(parts);
}

function toRuns(values: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const value of values) {
    const run = runs[runs.length - 1];
    if (run !== undefined && run[1] === value - 1) run[1] = value;
    else runs.push([value, value]);
  }
  return runs;
}

function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function ordinal(value: number): string {
  const tens = value % 100;
  if (tens >= 11 && tens <= 13) return `${value}th`;
  const suffix = ['th', 'st', 'nd', 'rd'][value % 10] ?? 'th';
  return `${value}${suffix}`;
}

function pad(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}
