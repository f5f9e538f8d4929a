import { TriggerError } from '../errors.ts';
import {
  buildOffsetTable,
  createOffsetFormatter,
  type OffsetTable,
  readOffset,
  referenceTable,
  TABLE_SPAN_MS,
} from './offset-table.ts';
import { MS_PER_DAY } from './wall-time.ts';

/**
 * An IANA time zone backed by `Intl.DateTimeFormat` and nothing else.
 *
 * Why no date library: a cron search converts between instants and wall-clock times several
 * times per fire time, and libraries (like croner) that ask `Intl` for every conversion pay about
 * a microsecond each time. A `TimeZone` asks `Intl` once per year of time it is used in, builds a
 * table of the offset changes in that year (`offset-table.ts`) and afterwards answers with a
 * binary search, usually with a one-entry cache hit. UTC and fixed-offset zones skip all that.
 *
 * DESIGN §3's DST rule lives in `fromWallMs`: a wall time inside a gap (spring forward) resolves
 * to the first instant after the gap, i.e. the transition instant; a wall time that occurs twice
 * (fall back) resolves to its first occurrence.
 */
export class TimeZone {
  /** The name as given (e.g. `europe/berlin` stays as it was written). */
  readonly name: string;
  /** The canonical IANA name `Intl` resolved it to (e.g. `Europe/Berlin`). */
  readonly id: string;
  readonly #formatter: Intl.DateTimeFormat;
  /** Yearly tables by index (at most MAX_TABLES_PER_ZONE; the oldest is dropped first). */
  readonly #tables = new Map<number, OffsetTable>();
  // The segment (constant offset) the last lookup landed in: most lookups land in it again.
  #segmentStart = 0;
  #segmentEnd = 0;
  #segmentOffset = 0;

  constructor(name: string, id: string, formatter: Intl.DateTimeFormat) {
    this.name = name;
    this.id = id;
    this.#formatter = formatter;
    if (isFixedOffsetZone(id)) {
      this.#segmentStart = Number.NEGATIVE_INFINITY;
      this.#segmentEnd = Number.POSITIVE_INFINITY;
      this.#segmentOffset = readOffset(formatter, 0);
    }
  }

  /** UTC offset in milliseconds at `instant` (positive east of Greenwich). */
  offsetAt(instant: number): number {
    if (instant >= this.#segmentStart && instant < this.#segmentEnd) return this.#segmentOffset;
    return this.#lookup(instant);
  }

  /** The wall-clock reading at `instant`, as wall ms (see `wall-time.ts`). */
  toWallMs(instant: number): number {
    return instant + this.offsetAt(instant);
  }

  /**
   * The instant a wall-clock reading means, by DESIGN §3: in a gap, the first instant after it;
   * when the reading occurs twice, its first occurrence.
   *
   * Every instant t with t + offset(t) = wallMs lies within a day of wallMs (offsets stay under
   * 24 h), so the segments of constant offset from wallMs - 1 day on are walked in order: the
   * first segment whose candidate `wallMs - offset` falls inside it gives the earliest occurrence;
   * a segment whose candidate falls before its start means wallMs was skipped, and the segment's
   * start is the instant right after the gap.
   */
  fromWallMs(wallMs: number): number {
    let offset = this.offsetAt(wallMs - MS_PER_DAY);
    for (;;) {
      const candidate = wallMs - offset;
      if (candidate < this.#segmentEnd) {
        // Before the segment's start: wallMs was skipped by a gap; the start ends the gap.
        return Math.max(candidate, this.#segmentStart);
      }
      offset = this.offsetAt(this.#segmentEnd);
    }
  }

  /**
   * The wall ms to start a forward search from so that exactly the wall times after it resolve
   * (by `fromWallMs`) to instants after `instant`. That is the wall reading at `instant`, except
   * during the second pass of a repeated hour: those readings already resolved to their first
   * pass, so the search has to start at the end of the repeated stretch.
   */
  searchStartWallMs(instant: number): number {
    const offset = this.offsetAt(instant);
    // A repeated stretch lasts less than a day after its transition: nothing to check later on.
    if (instant - this.#segmentStart >= MS_PER_DAY) return instant + offset;
    const wallMs = instant + offset;
    const first = this.fromWallMs(wallMs);
    if (first >= instant) return wallMs;
    // Second pass: find the last offset change at or before `instant`; the first pass ended at
    // that change, at wall time change + offset before it.
    let previous = this.offsetAt(first);
    let change = first;
    let before = previous;
    while (this.#segmentEnd <= instant) {
      const next = this.offsetAt(this.#segmentEnd);
      if (next !== previous) {
        change = this.#segmentStart;
        before = previous;
      }
      previous = next;
    }
    return change + before - 1;
  }

  #lookup(instant: number): number {
    const index = Math.floor(instant / TABLE_SPAN_MS);
    const reference = referenceTable(index);
    let table = this.#tables.get(reference);
    if (table === undefined) {
      table = buildOffsetTable(this.#formatter, reference * TABLE_SPAN_MS);
      if (this.#tables.size >= MAX_TABLES_PER_ZONE) {
        const oldest = this.#tables.keys().next().value;
        if (oldest !== undefined) this.#tables.delete(oldest);
      }
      this.#tables.set(reference, table);
    }
    const shift = (index - reference) * TABLE_SPAN_MS;
    const { starts, offsets } = table;
    const local = instant - shift;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((starts[middle] as number) <= local) low = middle;
      else high = middle - 1;
    }
    this.#segmentStart = (starts[low] as number) + shift;
    this.#segmentEnd = low + 1 < starts.length ? (starts[low + 1] as number) + shift : (index + 1) * TABLE_SPAN_MS;
    this.#segmentOffset = offsets[low] as number;
    return this.#segmentOffset;
  }
}

/** Enough for a zone's whole 400-year cycle of reusable tables plus the years before it. */
const MAX_TABLES_PER_ZONE = 640;
const MAX_ZONES = 1024;
const MAX_NAME_LENGTH = 128;
const zones = new Map<string, TimeZone>();

/** `UTC`, `Etc/*` and `+05:30`-style zones never change their offset. */
function isFixedOffsetZone(id: string): boolean {
  return id === 'UTC' || id.startsWith('Etc/') || id.startsWith('+') || id.startsWith('-');
}

/**
 * The `TimeZone` for an IANA name (cached). Throws a `TriggerError` naming `field` when the name
 * is not a string `Intl` knows.
 */
export function getTimeZone(name: unknown, field = 'timezone'): TimeZone {
  if (typeof name === 'string') {
    const cached = zones.get(name);
    if (cached !== undefined) return cached;
  }
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new TriggerError(field, name, 'is not an IANA time zone name (e.g. "Europe/Berlin")');
  }
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = createOffsetFormatter(name);
  } catch {
    throw new TriggerError(field, name, 'is not an IANA time zone name (e.g. "Europe/Berlin")');
  }
  const zone = new TimeZone(name, formatter.resolvedOptions().timeZone, formatter);
  if (zones.size >= MAX_ZONES) {
    const oldest = zones.keys().next().value;
    if (oldest !== undefined) zones.delete(oldest);
  }
  zones.set(name, zone);
  return zone;
}

let localName: string | undefined;
let localNameTz: string | undefined;
let localNameCheckedAt = Number.NEGATIVE_INFINITY;
/** How often `TZ` is looked at again: reading `process.env` costs as much as a cron `next()`. */
const LOCAL_ZONE_RECHECK_MS = 1000;

/**
 * The process's own zone (`TZ` or the system setting), as `Intl` reports it; `UTC` if unknown.
 * Remembered, and `process.env.TZ` looked at again at most once a second: creating the formatter
 * costs tens of microseconds, and every trigger without a zone asks.
 */
export function localTimeZoneName(): string {
  const now = Date.now();
  if (localName !== undefined && now - localNameCheckedAt < LOCAL_ZONE_RECHECK_MS) return localName;
  localNameCheckedAt = now;
  const tz = typeof process === 'undefined' ? undefined : process.env.TZ;
  if (localName === undefined || tz !== localNameTz) {
    localName = new Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    localNameTz = tz;
  }
  return localName;
}
