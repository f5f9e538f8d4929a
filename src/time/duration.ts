import { ValidationError } from '../errors.ts';

/**
 * A length of time: milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'10m'`,
 * `'1h30m'`, `'1.5h'`, `'2 days'`. Written here rather than taken from `ms` because we need
 * compound values (`'1h30m'`) and errors that name the option that was wrong.
 */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)\s*/gy;
const EXPECTED = 'is not a duration: expected milliseconds (a number >= 0) or a string like "30s", "10m", "1h30m"';

/**
 * The longest duration accepted: about 100 years. Longer ones are surely mistakes, and any time
 * plus one must still be a date (JavaScript's end past 275,000 AD, a run time or a retry computed
 * from a huge one would be an Invalid Date that no store can order or keep).
 */
export const MAX_DURATION_MS = 100 * 365.25 * 86_400_000;
const TOO_LONG = 'is too long: at most 100 years (3155760000000 ms)';

/** Converts a `Duration` to milliseconds, or throws a `ValidationError` naming `field`. */
export function parseDuration(field: string, value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new ValidationError(field, value, EXPECTED);
    if (value > MAX_DURATION_MS) throw new ValidationError(field, value, TOO_LONG);
    // Whole milliseconds: stores keep integers, and nothing here is finer than a millisecond.
    return Math.round(value);
  }
  if (typeof value !== 'string') throw new ValidationError(field, value, EXPECTED);
  const text = value.trim().toLowerCase();
  if (text === '' || text.length > 100) throw new ValidationError(field, value, EXPECTED);
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(field, Number(text));
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    const unit = UNIT_MS[match[2] ?? ''];
    if (unit === undefined) throw new ValidationError(field, value, EXPECTED);
    total += Number(match[1]) * unit;
    consumed = PART.lastIndex;
  }
  if (consumed !== text.length || !Number.isFinite(total)) {
    throw new ValidationError(field, value, EXPECTED);
  }
  if (total > MAX_DURATION_MS) throw new ValidationError(field, value, TOO_LONG);
  return Math.round(total);
}

/** A duration above zero, or `null` (no limit). */
export function parsePositiveOptionalDuration(field: string, value: unknown): number | null {
  const ms = parseOptionalDuration(field, value);
  if (ms !== null && ms <= 0) throw new ValidationError(field, value, 'must be above zero (or null for no limit)');
  return ms;
}

/** Like `parseDuration`, but `null` (meaning "no limit") passes through. */
export function parseOptionalDuration(field: string, value: unknown): number | null {
  return value === null ? null : parseDuration(field, value);
}
