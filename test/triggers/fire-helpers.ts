import { formatInstant } from '../../src/time/iso-date.ts';
import { getTimeZone } from '../../src/time/time-zone.ts';
import type { Trigger } from '../../src/triggers/index.ts';
import { fireTimes } from '../../src/triggers/index.ts';

/** The next `count` fire times at or after `from`, printed with the offsets of `zone`. */
export function firesIn(trigger: Trigger, zone: string, from: string, count = 5): string[] {
  const timeZone = getTimeZone(zone);
  return fireTimes(trigger, new Date(from), count).map((time) => formatInstant(time.getTime(), timeZone));
}

/** The next `count` fire times at or after `from` as UTC ISO strings without milliseconds. */
export function firesUtc(trigger: Trigger, from: string, count = 5): string[] {
  return fireTimes(trigger, new Date(from), count).map((time) => time.toISOString().replace('.000Z', 'Z'));
}
