/**
 * Builds tables of UTC-offset changes for one IANA zone from `Intl.DateTimeFormat`, the only
 * source of zone data in Node that needs no library. Asking `Intl` costs about a microsecond per
 * instant, far too slow for a cron search that converts several times per fire time, so a zone
 * asks it once per stretch of time and then answers from the table with a binary search.
 */

/** Length of one table: the mean Gregorian year, a whole number of seconds. */
export const TABLE_SPAN_MS = 31_556_952_000;

/**
 * Spacing of the `Intl` samples. Two offset changes that cancel out within this spacing would be
 * missed; the zone database has none (DST periods last weeks, not hours), and 6 hours keeps a
 * table at about 1,500 `Intl` calls (~2 ms).
 */
const SAMPLE_STEP_MS = 6 * 3_600_000;

/**
 * From here on the zone data has no more one-off changes, only each zone's final yearly DST
 * rule ("last Sunday in March"), whose periods last months. Weekly samples cannot miss one and
 * make a table about 25 times cheaper, which matters when a search (an `and` trigger's
 * leapfrog) walks through centuries of future years.
 */
const FINAL_RULES_FROM_MS = Date.UTC(2040, 0, 1);
const FINAL_RULES_SAMPLE_STEP_MS = 7 * 86_400_000;

/**
 * Yearly rules repeat with the Gregorian calendar, which repeats every 400 years (146,097 days,
 * a whole number of weeks). A table spans exactly 1/400 of that, so table i + 400 is table i
 * shifted by 400 years: past the first cycle of final rules, tables are reused, never built.
 */
export const CYCLE_TABLES = 400;
export const FIRST_CYCLE_TABLE = Math.ceil(FINAL_RULES_FROM_MS / TABLE_SPAN_MS);

/** The table index whose table serves index `index` (shifted by `index - result` spans). */
export function referenceTable(index: number): number {
  return index < FIRST_CYCLE_TABLE + CYCLE_TABLES
    ? index
    : FIRST_CYCLE_TABLE + ((index - FIRST_CYCLE_TABLE) % CYCLE_TABLES);
}

/** `Intl` only formats instants within ±8.64e15 ms (the `Date` range). */
const MAX_TIME_MS = 8.64e15;

/** Offsets that are constant over a table's span, from `starts[i]` up to the next start. */
export interface OffsetTable {
  /** Ascending; `starts[0]` is the table's first instant. */
  readonly starts: number[];
  /** UTC offset in ms (positive east of Greenwich) from `starts[i]` on. */
  readonly offsets: number[];
}

/** A formatter that prints `GMT+05:45`, `GMT-04:56:02` (second precision for LMT) or `GMT`. */
export function createOffsetFormatter(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
}

/** The zone's UTC offset in ms at `instant`, as `Intl` reports it. */
export function readOffset(formatter: Intl.DateTimeFormat, instant: number): number {
  const text = formatter.format(Math.min(Math.max(instant, -MAX_TIME_MS), MAX_TIME_MS));
  const at = text.lastIndexOf('GMT');
  if (at < 0 || at + 3 >= text.length) return 0;
  const sign = text.charCodeAt(at + 3) === 45 /* - */ || text.charCodeAt(at + 3) === 0x2212 ? -1 : 1;
  const parts = text.slice(at + 4).split(':');
  const hours = Number(parts[0] ?? 0);
  const minutes = Number(parts[1] ?? 0);
  const seconds = Number(parts[2] ?? 0);
  return sign * ((hours * 60 + minutes) * 60 + seconds) * 1000;
}

/**
 * The offset changes in `[start, start + TABLE_SPAN_MS)`. Samples every few hours; where two
 * neighbouring samples differ, a binary search pins the change down to the second (changes in the
 * zone database happen on whole seconds).
 */
export function buildOffsetTable(formatter: Intl.DateTimeFormat, start: number): OffsetTable {
  const end = start + TABLE_SPAN_MS;
  let current = readOffset(formatter, start);
  const starts = [start];
  const offsets = [current];
  let from = start;
  const step = start >= FINAL_RULES_FROM_MS ? FINAL_RULES_SAMPLE_STEP_MS : SAMPLE_STEP_MS;
  for (let sample = start + step; from < end; sample += step) {
    const to = Math.min(sample, end);
    // Several changes may fall between two samples (A -> B -> C): find them one by one.
    while (readOffset(formatter, to) !== current) {
      const change = firstChange(formatter, from, to, current);
      current = readOffset(formatter, change);
      starts.push(change);
      offsets.push(current);
      from = change;
    }
    from = to;
  }
  return { starts, offsets };
}

/** The first whole second in `(from, to]` whose offset is not `offset`; `to`'s offset differs. */
function firstChange(formatter: Intl.DateTimeFormat, from: number, to: number, offset: number): number {
  let low = from; // offset here is `offset`
  let high = to; // offset here differs
  while (high - low > 1000) {
    const middle = low + Math.floor((high - low) / 2000) * 1000;
    if (readOffset(formatter, middle) === offset) low = middle;
    else high = middle;
  }
  return high;
}
