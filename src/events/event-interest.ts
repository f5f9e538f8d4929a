import type { KairosEvent, KairosEventType } from './event-types.ts';

/**
 * The event types a subscriber wants (or `finishedKey(task)`: the outcomes of one task), or `'*'`
 * for all. An empty list: only what every node needs.
 */
export type EventInterest = readonly (KairosEventType | `finished:${string}`)[] | '*';

/** What `runJob` waits for: the outcome of a job, wherever it ran. */
export const EXECUTION_EVENT_TYPES: readonly KairosEventType[] = [
  'job.succeeded',
  'job.failed',
  'job.timed_out',
  'job.cancelled',
  'job.missed',
  'job.skipped',
  'job.abandoned',
];

/**
 * Events that only observers need: a job started, the outcome of a job's last run, a job added
 * already leased to the node that runs it. Other nodes' schedulers act on the rest: a job to take
 * (added, or to run again: an outcome with `retryAt`), a schedule to fire, a cancel request. A
 * node that waits for a capped task's slot says so with the interest key `finishedKey(task)`. A
 * cluster broker sends observation events to other nodes only when one of them listens for them:
 * on a busy cluster they are most of the traffic.
 */
export function isObservation(event: KairosEvent): boolean {
  if (event.type === 'job.added') return (event.leasedTo ?? null) !== null;
  if ('execution' in event) return event.retryAt === null;
  return event.type === 'job.started';
}

/** Interest in every outcome of one task's runs (a node with that task capped waits for its slots). */
export function finishedKey(task: string): `finished:${string}` {
  return `finished:${task}`;
}

/** The interest keys an event matches besides `'*'`. */
export function interestKeys(event: KairosEvent): string[] {
  return 'execution' in event ? [event.type, finishedKey(event.task)] : [event.type];
}
