import { TriggerError } from '../errors.ts';
import type { CronSpec } from './cron/cron-spec.ts';
import { describeCronSpec } from './cron/describe-cron-spec.ts';
import { nextCronWallMs } from './cron/next-cron-wall-ms.ts';
import { parseCronExpression } from './cron/parse-cron-expression.ts';
import { CRON_FIELD_NAMES, type CronFields, parseCronFields } from './cron/parse-cron-fields.ts';
import type { Trigger } from './trigger.ts';
import type { CronTriggerJson } from './trigger-json.ts';
import {
  COMMON_KEYS,
  type CommonFields,
  commonJson,
  dateInput,
  describeBounds,
  readCommonFields,
  readTriggerObject,
  rejectUnknownKeys,
  type TriggerOptions,
  timeOf,
} from './trigger-options.ts';

const EXPRESSION_KEYS = [...COMMON_KEYS, 'expression'];
const FIELD_KEYS = [...COMMON_KEYS, ...CRON_FIELD_NAMES];

/**
 * A wall-clock schedule in an IANA zone, written as a cron expression or as APScheduler-style
 * fields (DESIGN §4). Fire times follow DESIGN §3: every matching wall time fires exactly once;
 * one that falls in a DST gap fires at the first instant after the gap (several such times
 * collapse into that one fire), one that occurs twice fires at its first occurrence only.
 */
export class CronTrigger implements Trigger {
  readonly type = 'cron' as const;
  readonly jitterMs: number;
  readonly #json: CronTriggerJson;
  readonly #spec: CronSpec;
  readonly #common: CommonFields;

  private constructor(json: CronTriggerJson, spec: CronSpec, common: CommonFields) {
    this.#json = Object.freeze(json);
    this.#spec = spec;
    this.#common = common;
    this.jitterMs = common.jitterMs;
  }

  /** Validates a cron trigger's JSON form; throws a `TriggerError` naming what is wrong. */
  static fromJSON(json: unknown): CronTrigger {
    const object = readTriggerObject(json, 'cron');
    const hasExpression = object.expression !== undefined;
    rejectUnknownKeys(object, hasExpression ? EXPRESSION_KEYS : FIELD_KEYS, 'cron');
    const spec = hasExpression ? compileExpression(object.expression) : parseCronFields(object as CronFields);
    const common = readCommonFields(object, 'cron');
    const normalized: Record<string, unknown> = { type: 'cron' };
    if (hasExpression) normalized.expression = object.expression;
    else {
      for (const name of CRON_FIELD_NAMES) {
        if (object[name] !== undefined) normalized[name] = object[name];
      }
    }
    Object.assign(normalized, commonJson(common));
    return new CronTrigger(normalized as unknown as CronTriggerJson, spec, common);
  }

  next(after: Date): Date | null {
    const { zone, startMs, endMs } = this.#common;
    let time = timeOf(after);
    if (time < startMs) time = startMs - 1;
    let wallMs = zone.searchStartWallMs(time);
    // Normally one round. A wall time can resolve to an instant not after `time` only around
    // unusual offset changes; the loop then moves on, and the cap keeps it finite whatever
    // the zone data says.
    for (let round = 0; round < 10_000; round++) {
      const match = nextCronWallMs(this.#spec, wallMs);
      if (match === null) return null;
      const fire = zone.fromWallMs(match);
      if (fire > time) return fire > endMs ? null : new Date(fire);
      wallMs = match;
    }
    return null;
  }

  toJSON(): CronTriggerJson {
    return this.#json;
  }

  describe(): string {
    const zone = this.#common.timezone ?? this.#common.zone.name;
    try {
      return `${describeCronSpec(this.#spec)} (${zone})${describeBounds(this.#common)}`;
    } catch {
      return `On a cron schedule (${zone})`;
    }
  }

  withDefaultTimezone(timezone: string): CronTrigger {
    if (this.#common.timezone !== undefined) return this;
    // The compiled spec does not depend on the zone; only the dates need reading again.
    const json = { ...this.#json, timezone };
    const common = readCommonFields(json as unknown as Record<string, unknown>, 'cron');
    return new CronTrigger(json, this.#spec, common);
  }
}

/**
 * Compiled expressions by text. Schedules share a handful of expressions (and `kairos next
 * --jsonl` sees the same ones thousands of times); a spec is immutable apart from its memo of the
 * last month searched, so sharing one is safe.
 */
const compiled = new Map<string, CronSpec>();
const MAX_COMPILED = 512;

function compileExpression(expression: unknown): CronSpec {
  if (typeof expression === 'string') {
    const cached = compiled.get(expression);
    if (cached !== undefined) return cached;
  }
  const spec = parseCronExpression(expression);
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(expression as string, spec);
  return spec;
}

/**
 * A cron trigger from an expression (`cron('0 9 * * mon-fri', { timezone: 'Europe/Berlin' })`) or
 * from APScheduler-style fields (`cron({ hour: 9, dayOfWeek: 'mon-fri' })`; day-of-week numbers
 * in fields count Monday as 0, prefer names).
 */
export function cron(expressionOrFields: string | CronFields, options: TriggerOptions = {}): CronTrigger {
  const base =
    typeof expressionOrFields === 'string'
      ? { expression: expressionOrFields }
      : typeof expressionOrFields === 'object' && expressionOrFields !== null
        ? expressionOrFields
        : null;
  if (base === null) {
    throw new TriggerError('cron', expressionOrFields, 'must be an expression string or an object of fields');
  }
  if (typeof options !== 'object' || options === null) {
    throw new TriggerError('cron options', options, 'must be an object');
  }
  return CronTrigger.fromJSON({
    ...base,
    ...options,
    type: 'cron',
    startDate: dateInput(options.startDate ?? (base as TriggerOptions).startDate),
    endDate: dateInput(options.endDate ?? (base as TriggerOptions).endDate),
  });
}
