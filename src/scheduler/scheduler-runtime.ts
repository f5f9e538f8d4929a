import type { Logger } from '../common/logger.ts';
import type { EventBroker } from '../events/event-broker.ts';
import type { DataStore } from '../stores/data-store.ts';
import type { CoalescePolicy } from '../stores/records.ts';
import type { Clock } from '../time/clock.ts';
import type { ActivityTracker } from './activity-tracker.ts';
import type { TaskRegistry } from './task-registry.ts';
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
  /**
   * How far the store's clock is off: for a store with a clock of its own (a database,
   * `DataStore.now`), its clock minus this node's steady clock (`steadyNow`), kept against the
   * steady clock so that a step of the node's wall clock (NTP, a resumed VM) moves none of the
   * times the node makes from it; for a store in the process, its clock minus the node's wall
   * clock. Read it through `storeOffsetMs`.
   */
  skewMs: number;
  /**
   * Learns from a store's answer that its clock read `storeTime` at some moment between `sentAt`
   * (`steadyNow` when the statement was sent) and now: keeps `skewMs` within what that allows.
   */
  observeStoreTime(storeTime: number, sentAt: number): void;
  /** The node's two clocks when the store's time was last observed. */
  observedAt: { wall: number; steady: number };
  /**
   * For a store with a clock of its own: the node's wall and monotonic clocks parted since the
   * last reading of the store's clock. Either the wall clock was stepped (NTP), or the monotonic
   * one missed a suspend of the host or VM (it does not count the time asleep); which, the node
   * cannot tell, so the offset must be read again before times are made from it.
   */
  clocksDiverged(): boolean;
  /**
   * The store's time minus this node's steady clock. Lease and due times are the store's; the
   * node's timers run on its steady clock.
   */
  storeOffsetMs(): number;
  /** The store's time, estimated from this node's steady clock. */
  storeNow(): number;
  /** Logs an internal failure the scheduler survived and tells listeners (`scheduler.error`). */
  reportError(operation: string, error: unknown): void;
}
