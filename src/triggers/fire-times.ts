import { TriggerError } from '../errors.ts';
import type { Trigger } from './trigger.ts';
import { timeOf } from './trigger-options.ts';

/** Upper bound for one call: previews show a handful; thousands are already a mistake. */
const MAX_COUNT = 100_000;

/**
 * The next `count` fire times of `trigger` at or after `from` (fewer when the trigger ends).
 * For previews (the console, `kairos next`); the scheduler itself calls `next`.
 */
export function fireTimes(trigger: Trigger, from: Date, count: number): Date[] {
  if (!Number.isInteger(count) || count < 0 || count > MAX_COUNT) {
    throw new TriggerError('fireTimes count', count, `must be an integer from 0 to ${MAX_COUNT}`);
  }
  const times: Date[] = [];
  let after = new Date(timeOf(from) - 1);
  while (times.length < count) {
    const fire = trigger.next(after);
    if (fire === null) break;
    times.push(fire);
    after = fire;
  }
  return times;
}
