import { KairosError, TriggerError } from '../errors.ts';
import { AndTrigger } from './and-trigger.ts';
import { CalendarIntervalTrigger } from './calendar-interval-trigger.ts';
import { CronTrigger } from './cron-trigger.ts';
import { DateTrigger } from './date-trigger.ts';
import { IntervalTrigger } from './interval-trigger.ts';
import { OrTrigger } from './or-trigger.ts';
import type { Trigger } from './trigger.ts';

/** `and`/`or` may nest, but not without end: deeper JSON is rejected before it can blow the stack. */
const MAX_DEPTH = 16;

/**
 * A trigger from its JSON form (DESIGN §4), fully validated. Anything wrong, including input
 * that is not JSON-like at all, is a `TriggerError` naming the field, the value and what was
 * expected; no other error escapes.
 */
export function triggerFromJSON(json: unknown): Trigger {
  try {
    return parse(json, 0);
  } catch (error) {
    if (error instanceof KairosError) throw error;
    // A getter that throws, a Proxy, a revoked object...: still only a TriggerError. Such a
    // value may not even survive being printed into the message, hence the fallback.
    let wrapped: TriggerError;
    try {
      wrapped = new TriggerError('trigger', json, 'could not be read', { cause: error });
    } catch {
      wrapped = new TriggerError('trigger', '(unprintable value)', 'could not be read', {
        cause: error,
      });
    }
    throw wrapped;
  }
}

function parse(json: unknown, depth: number): Trigger {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TriggerError('trigger', json, 'must be an object with a "type"');
  }
  const type = (json as { type?: unknown }).type;
  switch (type) {
    case 'cron':
      return CronTrigger.fromJSON(json);
    case 'interval':
      return IntervalTrigger.fromJSON(json);
    case 'date':
      return DateTrigger.fromJSON(json);
    case 'calendarInterval':
      return CalendarIntervalTrigger.fromJSON(json);
    case 'and':
    case 'or': {
      if (depth >= MAX_DEPTH) {
        throw new TriggerError(type, json, `nests deeper than ${MAX_DEPTH} levels`);
      }
      const parseChild = (child: unknown) => parse(child, depth + 1);
      return type === 'and' ? AndTrigger.fromJSON(json, parseChild) : OrTrigger.fromJSON(json, parseChild);
    }
    default:
      throw new TriggerError(
        'trigger "type"',
        type,
        'must be one of "cron", "interval", "date", "calendarInterval", "and", "or"',
      );
  }
}
