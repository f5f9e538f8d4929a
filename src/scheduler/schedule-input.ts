import { assertJsonValue } from '../common/json-value.ts';
import { uuidv7 } from '../common/uuid.ts';
import { ValidationError } from '../errors.ts';
import type { ConflictPolicy, NewSchedule, SchedulePatch } from '../stores/data-store.ts';
import type { CoalescePolicy } from '../stores/records.ts';
import { type Duration, parseDuration, parseOptionalDuration } from '../time/duration.ts';
import { cron, triggerFromJSON } from '../triggers/index.ts';
import type { Trigger } from '../triggers/trigger.ts';
import type { TriggerJson } from '../triggers/trigger-json.ts';
import { coalescePolicy, positiveInteger } from './scheduler-options.ts';
import type { ResolvedOptions } from './scheduler-runtime.ts';

/** A trigger object, its JSON form, or a cron expression. */
export type TriggerInput = Trigger | TriggerJson | string;

export interface SchedulePolicyOptions {
  /** How late a fire may still start; `null`: no limit. (Default: the scheduler's, '60s'.) */
  misfireGraceTime?: Duration | null;
  /** (Default: the scheduler's, 'latest'.) */
  coalesce?: CoalescePolicy;
  /** Jobs of this schedule pending or running at once, cluster-wide. (Default: the scheduler's, 1.) */
  maxInstances?: number;
  /** Random delay added to each fire. (Default: the trigger's `jitter`, else 0.) */
  maxJitter?: Duration;
}

export interface AddScheduleOptions extends SchedulePolicyOptions {
  /** A stable id; declare schedules at start-up under fixed ids. (Default: a new UUID.) */
  id?: string;
  /** JSON arguments passed to the task on every fire. */
  args?: unknown;
  /** What to do when the id exists. (Default: 'replace'.) */
  conflict?: ConflictPolicy;
  /** Add it paused. (Default: false for a new schedule; a replaced one keeps its paused state.) */
  paused?: boolean;
  /** The caller's open transaction (SQL stores only). */
  tx?: unknown;
}

export interface UpdateScheduleOptions extends SchedulePolicyOptions {
  trigger?: TriggerInput;
  args?: unknown;
  task?: string;
}

const CONFLICT_POLICIES = new Set(['replace', 'keep', 'error']);
const MAX_ID_LENGTH = 200;

export function toTrigger(input: unknown, timezone: string): Trigger {
  let trigger: Trigger;
  if (typeof input === 'string') trigger = cron(input);
  else if (isTrigger(input)) trigger = input;
  else trigger = triggerFromJSON(input);
  return trigger.withDefaultTimezone(timezone);
}

function isTrigger(value: unknown): value is Trigger {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Trigger).next === 'function' &&
    typeof (value as Trigger).toJSON === 'function'
  );
}

/** The first fire time of a new or re-triggered schedule. */
export function firstFireTime(trigger: Trigger, now: number): Date | null {
  // A date trigger keeps its run date even when it is (slightly) past: the misfire rules decide
  // whether it still runs, as APScheduler users expect, instead of it silently never firing.
  if (trigger.type === 'date') return trigger.next(new Date(-8.64e15));
  return trigger.next(new Date(now - 1));
}

export function validateScheduleId(id: unknown): string {
  if (
    typeof id === 'string' &&
    id.length > 0 &&
    id.length <= MAX_ID_LENGTH &&
    id.trim() === id &&
    !hasControlCharacter(id)
  )
    return id;
  throw new ValidationError(
    'schedule id',
    id,
    'must be a string of 1-200 characters without control characters or surrounding whitespace',
  );
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

export function newSchedule(
  task: string,
  trigger: Trigger,
  options: AddScheduleOptions,
  defaults: ResolvedOptions['scheduleDefaults'],
  now: number,
): NewSchedule {
  const id = options.id === undefined ? uuidv7(now) : validateScheduleId(options.id);
  const policies = schedulePolicies(options);
  return {
    id,
    task,
    trigger: trigger.toJSON(),
    args: assertJsonValue('args', options.args),
    ...(options.paused === undefined ? {} : { paused: options.paused }),
    // `null` is a real value here ("no limit"), so only `undefined` takes the default.
    misfireGraceTime: policies.misfireGraceTime === undefined ? defaults.misfireGraceTime : policies.misfireGraceTime,
    coalesce: policies.coalesce ?? defaults.coalesce,
    maxInstances: policies.maxInstances ?? defaults.maxInstances,
    maxJitter: policies.maxJitter ?? trigger.jitterMs,
    nextFireTime: firstFireTime(trigger, now),
  };
}

export function conflictPolicy(value: unknown): ConflictPolicy {
  const policy = value ?? 'replace';
  if (typeof policy === 'string' && CONFLICT_POLICIES.has(policy)) return policy as ConflictPolicy;
  throw new ValidationError('conflict', value, "must be 'replace', 'keep' or 'error'");
}

/** The policy fields a caller gave, validated; absent ones stay absent. */
export function schedulePolicies(
  options: SchedulePolicyOptions,
): Pick<SchedulePatch, 'misfireGraceTime' | 'coalesce' | 'maxInstances' | 'maxJitter'> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('schedule options', options, 'must be an object');
  }
  const patch: Pick<SchedulePatch, 'misfireGraceTime' | 'coalesce' | 'maxInstances' | 'maxJitter'> = {};
  if (options.misfireGraceTime !== undefined)
    patch.misfireGraceTime = parseOptionalDuration('misfireGraceTime', options.misfireGraceTime);
  if (options.coalesce !== undefined) patch.coalesce = coalescePolicy('coalesce', options.coalesce);
  if (options.maxInstances !== undefined) patch.maxInstances = positiveInteger('maxInstances', options.maxInstances);
  if (options.maxJitter !== undefined) patch.maxJitter = parseDuration('maxJitter', options.maxJitter);
  return patch;
}
