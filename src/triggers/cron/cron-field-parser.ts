import { TriggerError } from '../../errors.ts';

/**
 * The syntax both cron forms share for one list item of a numeric field: `*`, `*\/n`, `a`, `a-b`,
 * `a-b/n` and `a/n` (from a to the field's maximum in steps of n), where a and b are numbers or,
 * in fields that have them, names. Form-specific items (`L`, `W`, `#`, `last fri`, `3rd mon`)
 * are recognised by the form's own parser before it falls back to this one.
 */
export interface CronFieldInfo {
  /** For messages: `cron field "hour"`. */
  readonly label: string;
  readonly min: number;
  readonly max: number;
  /** Lower-case names and their numbers (`jan` -> 1, `mon` -> 1). */
  readonly names?: Readonly<Record<string, number>>;
  /** Names that mean another number at the end of a range (`sun` -> 7 in `fri-sun`). */
  readonly rangeEndNames?: Readonly<Record<string, number>>;
}

export const MONTH_NAMES: Readonly<Record<string, number>> = {
  jan: 1,
  feb: 2,
  mar: 3,
  apr: 4,
  may: 5,
  jun: 6,
  jul: 7,
  aug: 8,
  sep: 9,
  oct: 10,
  nov: 11,
  dec: 12,
};

/** Weekday names as the JavaScript `Date` numbers them: 0 = Sunday ... 6 = Saturday. */
export const WEEKDAY_NAMES: Readonly<Record<string, number>> = {
  sun: 0,
  mon: 1,
  tue: 2,
  wed: 3,
  thu: 4,
  fri: 5,
  sat: 6,
};

const RANGE_ITEM = /^([a-z0-9]+)(?:-([a-z0-9]+))?(?:\/([0-9]+))?$/i;

/** The values one list item allows, all within `[field.min, field.max]`. */
export function parseRangeItem(item: string, field: CronFieldInfo): number[] {
  if (item === '*') return span(field.min, field.max, 1);
  if (item.startsWith('*/')) {
    return span(field.min, field.max, parseStep(item, item.slice(2), field));
  }
  const match = RANGE_ITEM.exec(item);
  if (match === null) {
    throw new TriggerError(field.label, item, expectedSyntax(field));
  }
  const [, first, last, step] = match;
  const start = parseValue(first as string, field, false);
  if (last === undefined && step === undefined) return [start];
  const end = last === undefined ? field.max : parseValue(last, field, true);
  if (start > end) {
    throw new TriggerError(field.label, item, 'is a range whose start is after its end');
  }
  return span(start, end, step === undefined ? 1 : parseStep(item, step, field));
}

/** A single number or name of the field, range-checked. */
export function parseValue(text: string, field: CronFieldInfo, rangeEnd: boolean): number {
  const lower = text.toLowerCase();
  const named = (rangeEnd ? field.rangeEndNames?.[lower] : undefined) ?? field.names?.[lower];
  if (named !== undefined) return named;
  if (!/^[0-9]+$/.test(text)) {
    throw new TriggerError(field.label, text, expectedSyntax(field));
  }
  const value = text.length > 9 ? Number.POSITIVE_INFINITY : Number(text);
  if (value < field.min || value > field.max) {
    throw new TriggerError(
      field.label,
      Number.isFinite(value) ? value : text,
      `is out of range ${field.min}-${field.max}`,
    );
  }
  return value;
}

function parseStep(item: string, text: string, field: CronFieldInfo): number {
  const width = field.max - field.min + 1;
  const step = /^[0-9]{1,9}$/.test(text) ? Number(text) : 0;
  if (step < 1 || step > width) {
    throw new TriggerError(field.label, item, `has a step out of range 1-${width}`);
  }
  return step;
}

function span(start: number, end: number, step: number): number[] {
  const values: number[] = [];
  for (let value = start; value <= end; value += step) values.push(value);
  return values;
}

function expectedSyntax(field: CronFieldInfo): string {
  const names = field.names ? ` or a name (${Object.keys(field.names).join(', ')})` : '';
  return `is not valid: expected a number ${field.min}-${field.max}${names}, a range (a-b), a step (*/n, a-b/n, a/n), or a list of these`;
}

/** Splits a field on commas, rejecting empty items (`1,,2`, a trailing comma). */
export function splitList(text: string, label: string): string[] {
  const items = text.split(',');
  for (const item of items) {
    if (item.trim() === '') throw new TriggerError(label, text, 'has an empty list item');
  }
  return items.map((item) => item.trim());
}
