/**
 * The persisted and API form of triggers (DESIGN §4). Dates are ISO-8601 strings; a date without
 * an offset is a wall-clock time in the trigger's `timezone`. `jitter` is in seconds and is applied
 * by the scheduler as the schedule's `maxJitter`, never by the trigger itself.
 */
export interface TriggerCommonJson {
  /** IANA zone the trigger computes in. (Default: the scheduler's `timezone`.) */
  timezone?: string;
  /** No fire time before this instant (inclusive). */
  startDate?: string;
  /** No fire time after this instant (inclusive). */
  endDate?: string;
  /** Seconds of random delay the scheduler adds to each fire. (Default: 0.) */
  jitter?: number;
}

export type CronFieldValue = string | number;

export interface CronExpressionJson extends TriggerCommonJson {
  type: 'cron';
  expression: string;
}

export interface CronFieldsJson extends TriggerCommonJson {
  type: 'cron';
  year?: CronFieldValue;
  month?: CronFieldValue;
  day?: CronFieldValue;
  week?: CronFieldValue;
  dayOfWeek?: CronFieldValue;
  hour?: CronFieldValue;
  minute?: CronFieldValue;
  second?: CronFieldValue;
}

export type CronTriggerJson = CronExpressionJson | CronFieldsJson;

export interface IntervalTriggerJson extends TriggerCommonJson {
  type: 'interval';
  weeks?: number;
  days?: number;
  hours?: number;
  minutes?: number;
  seconds?: number;
  milliseconds?: number;
}

export interface DateTriggerJson {
  type: 'date';
  runDate: string;
  timezone?: string;
  jitter?: number;
}

export interface CalendarIntervalTriggerJson extends TriggerCommonJson {
  type: 'calendarInterval';
  years?: number;
  months?: number;
  weeks?: number;
  days?: number;
  /** Day of the month to fire on for month and year intervals. (Default: the start date's day.) */
  day?: number;
  hour?: number;
  minute?: number;
  second?: number;
}

export interface CombiningTriggerJson {
  type: 'and' | 'or';
  triggers: TriggerJson[];
  jitter?: number;
}

export type TriggerJson =
  CronTriggerJson | IntervalTriggerJson | DateTriggerJson | CalendarIntervalTriggerJson | CombiningTriggerJson;

export type TriggerType = TriggerJson['type'];
