export { AND_MAX_ITERATIONS, AndTrigger, and } from './and-trigger.ts';
export {
  type CalendarIntervalOptions,
  CalendarIntervalTrigger,
  calendarInterval,
} from './calendar-interval-trigger.ts';
export type { CombiningOptions } from './combining-children.ts';
export type { CronFields } from './cron/parse-cron-fields.ts';
export { CronTrigger, cron } from './cron-trigger.ts';
export { type DateOptions, DateTrigger, date } from './date-trigger.ts';
export { fireTimes } from './fire-times.ts';
export { type IntervalOptions, IntervalTrigger, interval } from './interval-trigger.ts';
export { OrTrigger, or } from './or-trigger.ts';
export type { Trigger } from './trigger.ts';
export { triggerFromJSON } from './trigger-from-json.ts';
export type * from './trigger-json.ts';
export type { TriggerOptions } from './trigger-options.ts';
