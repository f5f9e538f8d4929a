// Public API of `kairos`. Everything exported here is part of the contract (DESIGN §5).
export { Scheduler, type AddJobOptions, type SchedulerState } from './scheduler/scheduler.ts';
export type { SchedulerOptions } from './scheduler/scheduler-options.ts';
export type { AddScheduleOptions, SchedulePolicyOptions, TriggerInput, UpdateScheduleOptions } from './scheduler/schedule-input.ts';
export type { TaskFunction, TaskOptions, RegisteredTask } from './scheduler/task-registry.ts';
export type { RetryOptions, BackoffOptions } from './scheduler/retry-policy.ts';
export { JobInterruption, type JobContext } from './scheduler/job-context.ts';

export { MemoryStore, type MemoryStoreOptions } from './stores/memory/memory-store.ts';
export type * from './stores/data-store.ts';
export { ConflictPolicy } from './stores/data-store.ts';
export type { Page, PageOptions, ScheduleQuery, JobQuery, ExecutionQuery } from './stores/queries.ts';
export {
  Outcome,
  CoalescePolicy,
  JobStatus,
  type ScheduleRecord,
  type JobRecord,
  type ExecutionRecord,
  type ExecutionError,
  type NodeInfo,
} from './stores/records.ts';

export type { EventBroker, EventListener } from './events/event-broker.ts';
export { LocalEventBroker } from './events/local-event-broker.ts';
export type { KairosEvent, KairosEventMap, KairosEventType, ExecutionEventData, ScheduleEventData } from './events/event-types.ts';

export type { Executor } from './executors/executor.ts';
export { AsyncExecutor } from './executors/async-executor.ts';

export * from './triggers/index.ts';
export type { Trigger } from './triggers/trigger.ts';
export type * from './triggers/trigger-json.ts';

export type { Clock, TimerHandle } from './time/clock.ts';
export { systemClock } from './time/clock.ts';
export { parseDuration, type Duration } from './time/duration.ts';
export { consoleLogger, silentLogger, type Logger, type LogLevel } from './common/logger.ts';
export type { JsonValue } from './common/json-value.ts';
export {
  KairosError,
  TriggerError,
  ValidationError,
  TaskNotFoundError,
  ScheduleNotFoundError,
  JobNotFoundError,
  ConflictError,
  SchedulerStateError,
  StoreError,
  JobFailedError,
} from './errors.ts';
