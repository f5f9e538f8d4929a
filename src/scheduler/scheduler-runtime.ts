import type { Logger } from '../common/logger.ts';
import type { EventBroker } from '../events/event-broker.ts';
import type { DataStore } from '../stores/data-store.ts';
import type { CoalescePolicy } from '../stores/records.ts';
import type { Clock } from '../time/clock.ts';
import type { ActivityTracker } from './activity-tracker.ts';
import type { TaskRegistry } from './task-registry.ts';
import type { StoreClock } from './store-clock.ts';
import type { TriggerCache } from './trigger-cache.ts';

/** Options after validation, in milliseconds. */
export interface ResolvedOptions {
  timezone: string;
  maxConcurrentJobs: number;
  leaseMs: number;
  pollIntervalMs: number;
  batchSize: number;
  prefetchJobs: number;
  prefetchMaxWaitMs: number | null;
  fireAheadMs: number;
  shutdownTimeoutMs: number;
  retentionMs: number | null;
  defaultAbandonRetries: number;
  scheduleDefaults: {
    misfireGraceTime: number | null;
    coalesce: CoalescePolicy;
    maxInstances: number;
  };
}

/** What the scheduler's parts share. One per `Scheduler`. */
export interface SchedulerRuntime {
  readonly node: string;
  readonly clock: Clock;
  readonly store: DataStore;
  readonly events: EventBroker;
  readonly logger: Logger;
  readonly tasks: TaskRegistry;
  readonly triggers: TriggerCache;
  readonly activity: ActivityTracker;
  readonly options: ResolvedOptions;
  random(): number;
  /** This node's estimate of the store's clock (a database's may be off from the node's). */
  readonly storeClock: StoreClock;
  /** The store's time, as far as this node knows it (`storeClock.now()`). */
  storeNow(): number;
  /** Logs an internal failure the scheduler survived and tells listeners (`scheduler.error`). */
  reportError(operation: string, error: unknown): void;
}
