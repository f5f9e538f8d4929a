import { silentLogger } from '../../../src/common/logger.ts';
import { uuidv7 } from '../../../src/common/uuid.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { LocalEventBroker } from '../../../src/events/local-event-broker.ts';
import type { DataStore, NewSchedule, TaskLimit } from '../../../src/stores/data-store.ts';
import type { ExecutionRecord, JobRecord } from '../../../src/stores/records.ts';
import { VirtualClock } from '../../../src/testing/virtual-clock.ts';

/**
 * What the conformance suite needs from each store: a fresh, started store on a clock the test
 * can move (for stores that judge leases by the database's clock, `advance` moves that instead).
 */
export interface StoreHarness {
  store: DataStore;
  /** Store time, epoch ms. */
  now(): number;
  advance(ms: number): Promise<void>;
  events: KairosEvent[];
  close(): Promise<void>;
}

export type StoreFactory = () => Promise<StoreHarness>;

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** Starts `store` on a virtual clock at T0, recording every event it publishes. */
export async function startOnVirtualClock(store: DataStore): Promise<StoreHarness> {
  const clock = new VirtualClock(T0);
  const broker = new LocalEventBroker();
  const events: KairosEvent[] = [];
  broker.subscribe((event) => events.push(event));
  // Stores that judge time by their database's clock take the test's clock instead.
  (store as { useClockForTests?: (clock: VirtualClock) => void }).useClockForTests?.(clock);
  await store.start({ events: broker, clock, logger: silentLogger, wake: () => {} });
  return {
    store,
    now: () => clock.now(),
    advance: async (ms) => clock.advanceTo(clock.now() + ms),
    events,
    close: () => store.stop(),
  };
}

export function scheduleFixture(id: string, overrides: Partial<NewSchedule> = {}): NewSchedule {
  return {
    id,
    task: 'task-a',
    trigger: { type: 'interval', seconds: 60, timezone: 'UTC' },
    args: { n: 1 },
    misfireGraceTime: 60_000,
    coalesce: 'latest',
    maxInstances: 1,
    maxJitter: 0,
    nextFireTime: new Date(T0),
    ...overrides,
  };
}

export function jobFixture(overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id: uuidv7(),
    task: 'task-a',
    args: null,
    scheduleId: null,
    fireTime: null,
    runAt: new Date(T0),
    startDeadline: null,
    attempt: 1,
    maxAttempts: 1,
    failedRuns: 0,
    abandonRetries: 2,
    maxInstances: null,
    status: 'pending',
    acquiredBy: null,
    acquiredUntil: null,
    startedAt: null,
    cancelRequested: false,
    createdAt: new Date(T0),
    ...overrides,
  };
}

export function executionFixture(job: JobRecord, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord {
  const finishedAt = overrides.finishedAt ?? new Date(T0);
  return {
    id: uuidv7(finishedAt.getTime()),
    jobId: job.id,
    scheduleId: job.scheduleId,
    task: job.task,
    args: job.args,
    fireTime: job.fireTime,
    runAt: job.runAt,
    startedAt: finishedAt,
    finishedAt,
    durationMs: 0,
    outcome: 'succeeded',
    error: null,
    result: null,
    node: 'node-1',
    attempt: job.attempt,
    ...overrides,
  };
}

export const TASKS: TaskLimit[] = [
  { name: 'task-a', maxRunningJobs: null },
  { name: 'task-b', maxRunningJobs: null },
];
