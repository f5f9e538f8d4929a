import { ValidationError } from '../errors.ts';
import { EVENT_TYPES } from '../events/event-shape.ts';
import type { KairosEventType } from '../events/event-types.ts';

/**
 * Checks of the plain arguments of the scheduler's public methods (queries, option objects, ids to
 * look up, event types), so that a wrong one gets a `ValidationError` that names it rather than a
 * `TypeError` from deep inside, or a silent "not found".
 */

/** An options or query object; `undefined` is `{}`. */
export function objectArgument<T extends object>(name: string, value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  throw new ValidationError(name, value, 'must be an object');
}

/** A job's id, given to add a job or to look one up (a database's text cannot hold NUL). */
export function jobIdArgument(id: unknown): string {
  if (typeof id === 'string' && id.length > 0 && id.length <= 200 && !id.includes('\u0000')) return id;
  throw new ValidationError('job id', id, 'must be a string of 1-200 characters without NUL');
}

/** An event type to listen for, or '*'. */
export function eventTypeArgument(type: unknown): KairosEventType | '*' {
  if (type === '*' || EVENT_TYPES.includes(type as KairosEventType)) return type as KairosEventType | '*';
  throw new ValidationError('event type', type, `must be '*' or one of ${EVENT_TYPES.join(', ')}`);
}
