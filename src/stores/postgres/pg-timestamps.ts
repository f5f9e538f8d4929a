/**
 * Reading `timestamptz` results. node-postgres parses them with `postgres-date`, which handles
 * every shape with regular expressions; claims and history reads return several timestamps per
 * row, and that parser took 6–8% of a node's CPU in a drain. PostgreSQL prints a `timestamptz` in
 * one shape under `DateStyle` ISO (its default): `2026-11-24 00:30:42.123456+00`, the offset being
 * that of the session's time zone (`+05:30` and `-00:25:21` happen). `parseTimestamptz` reads
 * exactly that shape and hands anything else (BC, infinity, years before 1000 or after 9999,
 * another `DateStyle`) to the general parser, so the results are the same, only sooner. Like
 * `postgres-date`, it keeps milliseconds and drops the microseconds.
 */
export function parseTimestamptz(text: string, general: (text: string) => unknown): unknown {
  const length = text.length;
  if (
    length < 22 ||
    text.charCodeAt(4) !== DASH ||
    text.charCodeAt(7) !== DASH ||
    text.charCodeAt(10) !== SPACE ||
    text.charCodeAt(13) !== COLON ||
    text.charCodeAt(16) !== COLON
  ) {
    return general(text);
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 1000 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return general(text);

  let at = 19;
  let millisecond = 0;
  if (text.charCodeAt(at) === DOT) {
    at++;
    const start = at;
    while (at < length && isDigit(text.charCodeAt(at))) at++;
    if (at === start) return general(text);
    for (let i = start; i < start + 3; i++) millisecond = millisecond * 10 + (i < at ? text.charCodeAt(i) - ZERO : 0);
  }

  const sign = text.charCodeAt(at);
  if (sign !== PLUS && sign !== DASH) return general(text);
  let offsetSeconds = digits(text, at + 1, 2) * 3600;
  at += 3;
  if (text.charCodeAt(at) === COLON) {
    offsetSeconds += digits(text, at + 1, 2) * 60;
    at += 3;
    if (text.charCodeAt(at) === COLON) {
      offsetSeconds += digits(text, at + 1, 2);
      at += 3;
    }
  }
  if (at !== length || offsetSeconds < 0) return general(text);

  const utc = Date.UTC(year, month - 1, day, hour, minute, second, millisecond);
  return new Date(utc - (sign === PLUS ? offsetSeconds : -offsetSeconds) * 1000);
}

const ZERO = 48;
const DASH = 45;
const PLUS = 43;
const SPACE = 32;
const COLON = 58;
const DOT = 46;

const isDigit = (code: number): boolean => code >= ZERO && code <= ZERO + 9;

/** The number written by `count` digits at `start`, or a large negative number if any is not a digit. */
function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const code = text.charCodeAt(i);
    if (!isDigit(code)) return -1e9;
    value = value * 10 + code - ZERO;
  }
  return value;
}
