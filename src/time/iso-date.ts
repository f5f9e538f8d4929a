import type { TimeZone } from './time-zone.ts';
import {
  civilFromDays,
  daysFromCivil,
  daysInMonth,
  MS_PER_DAY,
  MS_PER_HOUR,
  MS_PER_MINUTE,
  MS_PER_SECOND,
} from './wall-time.ts';

/**
 * ISO-8601 dates as triggers use them (DESIGN §4): with `Z` or an offset a string is an instant;
 * without one it is a wall-clock time in the trigger's zone, resolved by the DST rule.
 */
export type IsoDate = { kind: 'instant'; ms: number } | { kind: 'wall'; wallMs: number };

// YYYY-MM-DD, then optionally [T or space]HH:mm[:ss[.fff]] and an offset (Z, ±HH, ±HHMM, ±HH:MM[:SS]).
const ISO_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2})(?::?(\d{2}))?)?)?)?$/;

/** Parses an ISO-8601 date or date-time; `null` if it is not one (or names a day that does not exist). */
export function parseIsoDate(text: string): IsoDate | null {
  if (text.length > 64) return null;
  const match = ISO_PATTERN.exec(text);
  if (match === null) return null;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4] ?? 0);
  const minute = Number(match[5] ?? 0);
  const second = Number(match[6] ?? 0);
  const millisecond = Number(`${match[7] ?? ''}000`.slice(0, 3));
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const wallMs =
    daysFromCivil(year, month, day) * MS_PER_DAY +
    hour * MS_PER_HOUR +
    minute * MS_PER_MINUTE +
    second * MS_PER_SECOND +
    millisecond;
  if (match[8] !== undefined) return { kind: 'instant', ms: wallMs };
  if (match[9] === undefined) return { kind: 'wall', wallMs };
  const offsetHours = Number(match[10]);
  const offsetMinutes = Number(match[11] ?? 0);
  const offsetSeconds = Number(match[12] ?? 0);
  if (offsetHours > 23 || offsetMinutes > 59 || offsetSeconds > 59) return null;
  const offset =
    (match[9] === '-' ? -1 : 1) *
    (offsetHours * MS_PER_HOUR + offsetMinutes * MS_PER_MINUTE + offsetSeconds * MS_PER_SECOND);
  return { kind: 'instant', ms: wallMs - offset };
}

/** The instant an `IsoDate` means in `zone`. */
export function isoDateToInstant(date: IsoDate, zone: TimeZone): number {
  return date.kind === 'instant' ? date.ms : zone.fromWallMs(date.wallMs);
}

/**
 * `2027-03-28T03:00:00+02:00`: the instant as a wall-clock time in `zone` with the zone's UTC
 * offset at that instant. Seconds are always shown, milliseconds only when not zero, offsets with
 * seconds only for historical (LMT) offsets. UTC prints as `+00:00`, so every line names an offset
 * the same way.
 */
export function formatInstant(instant: number, zone: TimeZone): string {
  const offset = zone.offsetAt(instant);
  return `${formatWallMs(instant + offset)}${formatOffset(offset)}`;
}

/** `2027-03-28T03:00:00` (plus `.123` when the milliseconds are not zero). */
export function formatWallMs(wallMs: number): string {
  const days = Math.floor(wallMs / MS_PER_DAY);
  const { year, month, day } = civilFromDays(days);
  let rest = wallMs - days * MS_PER_DAY;
  const hour = Math.floor(rest / MS_PER_HOUR);
  rest -= hour * MS_PER_HOUR;
  const minute = Math.floor(rest / MS_PER_MINUTE);
  rest -= minute * MS_PER_MINUTE;
  const second = Math.floor(rest / MS_PER_SECOND);
  const millisecond = rest - second * MS_PER_SECOND;
  const yearText = year >= 0 && year <= 9999 ? pad(year, 4) : `${year < 0 ? '-' : '+'}${pad(Math.abs(year), 6)}`;
  const time = `${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}`;
  return `${yearText}-${pad(month, 2)}-${pad(day, 2)}T${time}${millisecond ? `.${pad(millisecond, 3)}` : ''}`;
}

/** `+05:45`, `-03:00`, `+00:53:28` (seconds only when present). */
export function formatOffset(offsetMs: number): string {
  const sign = offsetMs < 0 ? '-' : '+';
  let rest = Math.round(Math.abs(offsetMs) / MS_PER_SECOND);
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const seconds = rest - minutes * 60;
  return `${sign}${pad(hours, 2)}:${pad(minutes, 2)}${seconds ? `:${pad(seconds, 2)}` : ''}`;
}

function pad(value: number, width: number): string {
  return String(value).padStart(width, '0');
}
