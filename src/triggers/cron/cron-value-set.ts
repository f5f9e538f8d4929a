/**
 * The allowed values of one numeric cron field (second, minute, hour, month, ISO week, year).
 *
 * Small fields carry a `next` table so the search finds the next allowed value with one array
 * read instead of a loop; the year field (1970-9999) is too wide for that and uses a binary
 * search over `values`, which only runs when the search moves to another year.
 */
export interface CronValueSet {
  readonly min: number;
  readonly max: number;
  /** The allowed values, ascending, without duplicates. */
  readonly values: readonly number[];
  /** The field was written as `*` (or `?`): every value, and "unrestricted" for day matching. */
  readonly star: boolean;
  /**
   * `next[v - min]` is the smallest allowed value >= v, or -1; it has one extra entry (for
   * `max + 1`) that is always -1, so a carry past the end needs no bounds check. Empty for wide
   * fields.
   */
  readonly next: Int16Array;
}

/** Fields wider than this (the year) get no `next` table. */
const MAX_TABLE_WIDTH = 64;

export function createValueSet(min: number, max: number, values: Iterable<number>, star: boolean): CronValueSet {
  const width = max - min + 1;
  const allowed = new Uint8Array(width);
  for (const value of values) allowed[value - min] = 1;
  const sorted: number[] = [];
  for (let index = 0; index < width; index++) if (allowed[index]) sorted.push(index + min);
  const next = new Int16Array(width <= MAX_TABLE_WIDTH ? width + 1 : 0);
  if (next.length > 0) {
    let upcoming = -1;
    next[width] = -1;
    for (let index = width - 1; index >= 0; index--) {
      if (allowed[index]) upcoming = index + min;
      next[index] = upcoming;
    }
  }
  return { min, max, values: sorted, star, next };
}

/** Every value of the field, written as `*`. */
export function fullValueSet(min: number, max: number): CronValueSet {
  const values: number[] = [];
  for (let value = min; value <= max; value++) values.push(value);
  return createValueSet(min, max, values, true);
}

/** The smallest allowed value >= `value`, or -1 when there is none. */
export function nextValue(set: CronValueSet, value: number): number {
  if (value < set.min) value = set.min;
  if (value > set.max) return -1;
  if (set.next.length > 0) return set.next[value - set.min] as number;
  const { values } = set;
  let low = 0;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if ((values[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  return low < values.length ? (values[low] as number) : -1;
}

export function hasValue(set: CronValueSet, value: number): boolean {
  return nextValue(set, value) === value;
}
