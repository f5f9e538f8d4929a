import type { KairosEventType } from './event-types.ts';

/** The fields a consumer of each event type reads: texts, dates, and dates that may be null. */
interface Shape {
  texts: readonly string[];
  dates?: readonly string[];
  nullableDates?: readonly string[];
  execution?: true;
}

const SCHEDULE: Shape = { texts: ['scheduleId', 'task'], nullableDates: ['nextFireTime'] };
const EXECUTION: Shape = { texts: ['jobId', 'task'], nullableDates: ['retryAt'], execution: true };

const SHAPES: Record<KairosEventType, Shape> = {
  'scheduler.started': { texts: ['node'] },
  'scheduler.stopped': { texts: ['node'] },
  'scheduler.error': { texts: ['node', 'operation'] },
  'schedule.added': SCHEDULE,
  'schedule.updated': SCHEDULE,
  'schedule.paused': SCHEDULE,
  'schedule.resumed': SCHEDULE,
  'schedule.removed': { texts: ['scheduleId'] },
  'job.added': { texts: ['jobId', 'task'], dates: ['runAt'], nullableDates: ['fireTime'] },
  'job.started': { texts: ['jobId', 'task', 'node'], dates: ['startedAt'], nullableDates: ['fireTime'] },
  'job.cancel_requested': { texts: ['jobId'] },
  'job.succeeded': EXECUTION,
  'job.failed': EXECUTION,
  'job.timed_out': EXECUTION,
  'job.cancelled': EXECUTION,
  'job.missed': EXECUTION,
  'job.skipped': EXECUTION,
  'job.abandoned': EXECUTION,
};

/** Every event type, for checking a type a caller names. */
export const EVENT_TYPES = Object.keys(SHAPES) as KairosEventType[];

const isDate = (value: unknown) => value instanceof Date && !Number.isNaN(value.getTime());

/**
 * Whether an event that came from another process (dates already revived) has what the
 * scheduler and listeners read from one of its type. Anything may write to a NOTIFY channel; a
 * malformed event is dropped rather than handed to code that trusts its shape.
 */
export function isWellFormedEvent(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const event = value as Record<string, unknown>;
  const shape = Object.hasOwn(SHAPES, event.type as string) ? SHAPES[event.type as KairosEventType] : undefined;
  if (shape === undefined || !isDate(event.timestamp)) return false;
  if (!shape.texts.every((key) => typeof event[key] === 'string')) return false;
  if (!(shape.dates ?? []).every((key) => isDate(event[key]))) return false;
  if (!(shape.nullableDates ?? []).every((key) => event[key] === null || isDate(event[key]))) return false;
  if (shape.execution === undefined) return true;
  const execution = event.execution as Record<string, unknown> | null;
  return (
    typeof execution === 'object' &&
    execution !== null &&
    typeof execution.id === 'string' &&
    typeof execution.jobId === 'string' &&
    typeof execution.outcome === 'string' &&
    isDate(execution.finishedAt)
  );
}
