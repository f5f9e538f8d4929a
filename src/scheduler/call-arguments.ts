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

/** An id the stores keep (a job's, a node's): 1-200 characters, none NUL (a database's text cannot hold it). */
export function idArgument(field: string, id: unknown): string {
  if (typeof id === 'string' && id.length > 0 && id.length <= 200 && !id.includes('\u0000')) return id;
  throw new ValidationError(field, id, 'must be a string of 1-200 characters without NUL');
}

/** A job's id, given to add a job or to look one up. */
export function jobIdArgument(id: unknown): string {
  return idArgument('job id', id);
}

/** An event type to listen for, or '*'. */
export function eventTypeArgument(type: unknown): KairosEventType | '*' {
  if (type === '*' || EVENT_TYPES.includes(type as KairosEventType)) return type as KairosEventType | '*';
  throw new ValidationError('event type', type, `must be '*' or one of ${EVENT_TYPES.join(', ')}`);
}
