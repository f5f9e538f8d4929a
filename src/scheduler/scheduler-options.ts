import type { Logger } from '../common/logger.ts';
import { ValidationError } from '../errors.ts';
import type { EventBroker } from '../events/event-broker.ts';
import type { Executor } from '../executors/executor.ts';
import type { DataStore } from '../stores/data-store.ts';
import { CoalescePolicy } from '../stores/records.ts';
import type { Clock } from '../time/clock.ts';
import {
  type Duration,
  parseDuration,
  parseOptionalDuration,
  parsePositiveOptionalDuration,
} from '../time/duration.ts';
import { localTimeZoneName } from '../time/time-zone.ts';
import type { ResolvedOptions } from './scheduler-runtime.ts';

export interface SchedulerOptions {
  /** Where schedules, jobs and history live. (Default: a new `MemoryStore`.) */
  store?: DataStore;
  /** Carries events and wake-ups between nodes. (Default: the store's own broker, else an in-process one.) */
  eventBroker?: EventBroker;
  /** Runs task functions. (Default: `AsyncExecutor`, in the event loop.) */
  executor?: Executor;
  /** (Default: the system clock; `kairos/testing` passes a virtual one.) */
  clock?: Clock;
  /** This node's identity in leases, history and the nodes table. (Default: `host:pid:random`.) */
  nodeId?: string;
  /** IANA zone for triggers that name none. (Default: the process's local zone.) */
  timezone?: string;
  /** Jobs this node runs at once. (Default: 100.) */
  maxConcurrentJobs?: number;
  /** How long a lease lasts without renewal; a dead node's jobs are taken over after it. (Default: '30s'.) */
  leaseDuration?: Duration;
  /** Longest sleep between passes, the safety net when a wake-up is lost. (Default: '10s'.) */
  pollInterval?: Duration;
  /** How long `stop()` waits for running jobs before handing them back. (Default: '30s'.) */
  shutdownTimeout?: Duration;
  /** Executions older than this are pruned by the scheduler; `null` keeps them all. (Default: '30d'.) */
  retention?: Duration | null;
  /** Schedules or jobs claimed per store round trip. (Default: 100.) */
  batchSize?: number;
  /**
   * Due jobs this node may claim beyond its free slots, to wait here for one: the next claim then
   * travels while jobs run, which raises throughput for many short jobs (see "Throughput" in the
   * docs). Such a job is leased to this node while it waits, so other nodes do not run it even if
   * they are idle, for up to `prefetchMaxWait`; on `stop()` it is handed back. (Default: 0.)
   */
  prefetchJobs?: number;
  /**
   * How long a job may wait in the local queue (`prefetchJobs`) for a slot: one that waited that
   * long, because this node's slots stay taken, is handed back to the cluster (pending again,
   * nothing recorded, no attempt spent) for an idle node to run, and the node claims no more for its
   * queue until one of its slots frees. `null`: never hand back. (Default: '30s'.)
   */
  prefetchMaxWait?: Duration | null;
  /**
   * How long before its fire time a schedule may be fired: its job is written ahead, leased to
   * this node and held here for its run time (or, if this node cannot run it, left in the store
   * for any node), so a burst of schedules due at one instant starts on time instead of queueing
   * behind the writes. Only schedules with no job pending or running are fired ahead (so
   * `maxInstances` is judged as at the fire time); others fire at their time. At most half the
   * lease duration. (Default: 0, fire at the fire time.)
   */
  fireAhead?: Duration;
  /** (Default: warnings and errors on `console`.) */
  logger?: Logger;
  /** Random source for jitter and back-off, replaceable for reproducible tests. (Default: `Math.random`.) */
  random?: () => number;
  /** Policies for schedules that do not set their own. */
  defaults?: {
    /** (Default: '60s'.) */
    misfireGraceTime?: Duration | null;
    /** (Default: 'latest'.) */
    coalesce?: CoalescePolicy;
    /** (Default: 1.) */
    maxInstances?: number;
  };
}

/** Validates scheduler options; every error names the option and the value. */
export function resolveOptions(options: SchedulerOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('Scheduler options', options, 'must be an object');
  }
  const defaults = options.defaults ?? {};
  const leaseMs = atLeast(
    'Scheduler leaseDuration',
    parseDuration('Scheduler leaseDuration', options.leaseDuration ?? '30s'),
    100,
  );
  const fireAheadMs = parseDuration('Scheduler fireAhead', options.fireAhead ?? 0);
  if (fireAheadMs > leaseMs / 2) {
    throw new ValidationError(
      'Scheduler fireAhead',
      options.fireAhead,
      `must be at most half the lease duration (${leaseMs / 2} ms)`,
    );
  }
  return {
    timezone: validateTimezone('Scheduler timezone', options.timezone ?? localTimeZoneName()),
    maxConcurrentJobs: positiveInteger('Scheduler maxConcurrentJobs', options.maxConcurrentJobs ?? 100),
    leaseMs,
    pollIntervalMs: atLeast(
      'Scheduler pollInterval',
      parseDuration('Scheduler pollInterval', options.pollInterval ?? '10s'),
      10,
    ),
    shutdownTimeoutMs: parseDuration('Scheduler shutdownTimeout', options.shutdownTimeout ?? '30s'),
    retentionMs: parseOptionalDuration(
      'Scheduler retention',
      options.retention === undefined ? '30d' : options.retention,
    ),
    batchSize: positiveInteger('Scheduler batchSize', options.batchSize ?? 100),
    prefetchJobs: nonNegativeInteger('Scheduler prefetchJobs', options.prefetchJobs ?? 0),
    prefetchMaxWaitMs: parsePositiveOptionalDuration(
      'Scheduler prefetchMaxWait',
      options.prefetchMaxWait === undefined ? '30s' : options.prefetchMaxWait,
    ),
    fireAheadMs,
    defaultAbandonRetries: 2,
    scheduleDefaults: {
      misfireGraceTime: parseOptionalDuration(
        'Scheduler defaults.misfireGraceTime',
        defaults.misfireGraceTime === undefined ? '60s' : defaults.misfireGraceTime,
      ),
      coalesce: coalescePolicy('Scheduler defaults.coalesce', defaults.coalesce ?? 'latest'),
      maxInstances: positiveInteger('Scheduler defaults.maxInstances', defaults.maxInstances ?? 1),
    },
  };
}

export function validateTimezone(field: string, value: unknown): string {
  if (typeof value === 'string' && value.length > 0) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: value });
      return value;
    } catch {
      // fall through to the error below
    }
  }
  throw new ValidationError(field, value, 'is not an IANA time zone name (e.g. "Europe/Berlin", "UTC")');
}

export function positiveInteger(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1) return value;
  throw new ValidationError(field, value, 'must be a positive integer');
}

function nonNegativeInteger(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  throw new ValidationError(field, value, 'must be a whole number, 0 or more');
}

export function coalescePolicy(field: string, value: unknown): CoalescePolicy {
  if (typeof value === 'string' && Object.hasOwn(CoalescePolicy, value)) return value as CoalescePolicy;
  throw new ValidationError(field, value, "must be 'latest', 'earliest' or 'all'");
}

function atLeast(field: string, ms: number, minimum: number): number {
  if (ms < minimum) throw new ValidationError(field, ms, `must be at least ${minimum} ms`);
  return ms;
}
