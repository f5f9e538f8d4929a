import type { KairosEvent, KairosEventType } from './event-types.ts';

/** The event types a subscriber wants, or `'*'` for all. An empty list: only what every node needs. */
export type EventInterest = readonly KairosEventType[] | '*';

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
 * Events that only observers need: a job started, a run's outcome, a job added already leased to
 * the node that runs it. Other nodes' schedulers act on the rest (a job to take, a schedule to
 * fire, a cancel request); what follows a run (a retry, a freed slot) is taken up by the node that
 * ran it. A cluster broker sends observation events to other nodes only when one of them listens
 * for them: on a busy cluster they are most of the traffic.
 */
export function isObservation(event: KairosEvent): boolean {
  if (event.type === 'job.added') return event.leasedTo !== null;
  return event.type === 'job.started' || 'execution' in event;
}
