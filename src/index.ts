// Public API of `kairos`. Everything exported here is part of the contract (DESIGN §5).

export type { JsonValue } from './common/json-value.ts';
export { consoleLogger, type Logger, type LogLevel, silentLogger } from './common/logger.ts';
export {
  ConflictError,
  JobFailedError,
  JobNotFoundError,
  KairosError,
  ScheduleNotFoundError,
  SchemaTooNewError,
  SchedulerStateError,
  StoreError,
  TaskNotFoundError,
  TriggerError,
  ValidationError,
} from './errors.ts';
export type { EventBroker, EventListener } from './events/event-broker.ts';
export type {
  ExecutionEventData,
  KairosEvent,
  KairosEventMap,
  KairosEventType,
  ScheduleEventData,
} from './events/event-types.ts';
export { LocalEventBroker } from './events/local-event-broker.ts';
export { AsyncExecutor } from './executors/async-executor.ts';
export type { Executor } from './executors/executor.ts';
export { type JobContext, JobInterruption } from './scheduler/job-context.ts';
export type { AddJobOptions } from './scheduler/job-input.ts';
export type { BackoffOptions, RetryOptions } from './scheduler/retry-policy.ts';
export type {
  AddScheduleOptions,
  SchedulePolicyOptions,
  TriggerInput,
  UpdateScheduleOptions,
} from './scheduler/schedule-input.ts';
export { Scheduler, type SchedulerState } from './scheduler/scheduler.ts';
export type { SchedulerOptions } from './scheduler/scheduler-options.ts';
export type { RegisteredTask, TaskFunction, TaskOptions } from './scheduler/task-registry.ts';
export type * from './stores/data-store.ts';
export { ConflictPolicy } from './stores/data-store.ts';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory/memory-store.ts';
export type { ExecutionQuery, JobQuery, Page, PageOptions, ScheduleQuery } from './stores/queries.ts';
export {
  CoalescePolicy,
  type ExecutionError,
  type ExecutionRecord,
  type JobRecord,
  JobStatus,
  type NodeInfo,
  Outcome,
  type ScheduleRecord,
} from './stores/records.ts';

export type { Clock, TimerHandle } from './time/clock.ts';
export { systemClock } from './time/clock.ts';
export { type Duration, parseDuration } from './time/duration.ts';
export * from './triggers/index.ts';
export type { Trigger } from './triggers/trigger.ts';
export type * from './triggers/trigger-json.ts';
