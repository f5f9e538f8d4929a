import { TriggerError } from '../errors.ts';
import type { Trigger } from './trigger.ts';
import type { CombiningTriggerJson, TriggerJson } from './trigger-json.ts';
import { readJitter, readTriggerObject, rejectUnknownKeys } from './trigger-options.ts';

/** More children than this is a mistake (or an attack), not a schedule. */
export const MAX_CHILDREN = 100;

export interface CombiningOptions {
  /** Seconds of random delay the scheduler adds to each fire. (Default: 0.) */
  jitter?: number;
}

export interface CombiningParts {
  readonly triggers: readonly Trigger[];
  readonly jitter: number | undefined;
}

/** Checks the children given to `and()` / `or()` in the API. */
export function checkChildren(triggers: unknown, type: 'and' | 'or'): readonly Trigger[] {
  if (!Array.isArray(triggers) || triggers.length === 0 || triggers.length > MAX_CHILDREN) {
    throw new TriggerError(type, triggers, `must be an array of 1 to ${MAX_CHILDREN} triggers`);
  }
  triggers.forEach((child, index) => {
    if (
      typeof child !== 'object' ||
      child === null ||
      typeof (child as Trigger).next !== 'function' ||
      typeof (child as Trigger).toJSON !== 'function'
    ) {
      throw new TriggerError(`${type} "triggers"[${index}]`, child, 'is not a trigger');
    }
  });
  return [...triggers] as Trigger[];
}

/** Validates an `and`/`or` JSON object; `parseChild` turns each child's JSON into a trigger. */
export function readCombiningJson(
  json: unknown,
  type: 'and' | 'or',
  parseChild: (child: unknown) => Trigger,
): CombiningParts {
  const object = readTriggerObject(json, type);
  rejectUnknownKeys(object, ['type', 'triggers', 'jitter'], type);
  const children = object.triggers;
  if (!Array.isArray(children) || children.length === 0 || children.length > MAX_CHILDREN) {
    throw new TriggerError(`${type} "triggers"`, children, `must be an array of 1 to ${MAX_CHILDREN} trigger objects`);
  }
  return { triggers: children.map(parseChild), jitter: readJitter(object, type) };
}

export function combiningJson(
  type: 'and' | 'or',
  triggers: readonly Trigger[],
  jitter: number | undefined,
): CombiningTriggerJson {
  const json: CombiningTriggerJson = {
    type,
    triggers: triggers.map((child) => child.toJSON() as TriggerJson),
  };
  if (jitter !== undefined) json.jitter = jitter;
  return json;
}

/** Children with the default zone filled in; the same array when none changed. */
export function childrenWithTimezone(triggers: readonly Trigger[], timezone: string): readonly Trigger[] {
  const updated = triggers.map((child) => child.withDefaultTimezone(timezone));
  return updated.every((child, index) => child === triggers[index]) ? triggers : updated;
}

/** A child's description; a child that throws (a user's own Trigger) must not break the parent's. */
export function describeChild(trigger: Trigger): string {
  try {
    return trigger.describe();
  } catch {
    return `a ${String(trigger.type)} trigger`;
  }
}
