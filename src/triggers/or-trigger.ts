import {
  type CombiningOptions,
  checkChildren,
  childrenWithTimezone,
  combiningJson,
  describeChild,
  readCombiningJson,
} from './combining-children.ts';
import type { Trigger } from './trigger.ts';
import type { CombiningTriggerJson } from './trigger-json.ts';
import { readJitter, timeOf } from './trigger-options.ts';

/**
 * Fires whenever any child fires. Children firing at the same instant fire once (the next time
 * is always strictly after the previous one).
 */
export class OrTrigger implements Trigger {
  readonly type = 'or' as const;
  readonly jitterMs: number;
  readonly triggers: readonly Trigger[];
  readonly #jitter: number | undefined;

  constructor(triggers: readonly Trigger[], jitter?: number) {
    this.triggers = triggers;
    this.#jitter = jitter;
    this.jitterMs = jitter === undefined ? 0 : Math.round(jitter * 1000);
  }

  static fromJSON(json: unknown, parseChild: (child: unknown) => Trigger): OrTrigger {
    const { triggers, jitter } = readCombiningJson(json, 'or', parseChild);
    return new OrTrigger(triggers, jitter);
  }

  next(after: Date): Date | null {
    timeOf(after);
    let earliest: Date | null = null;
    for (const child of this.triggers) {
      const fire = child.next(after);
      if (fire !== null && (earliest === null || fire.getTime() < earliest.getTime())) earliest = fire;
    }
    return earliest;
  }

  toJSON(): CombiningTriggerJson {
    return combiningJson('or', this.triggers, this.#jitter);
  }

  describe(): string {
    return `Whenever any of these fires: ${this.triggers.map(describeChild).join('; ')}`;
  }

  withDefaultTimezone(timezone: string): OrTrigger {
    const triggers = childrenWithTimezone(this.triggers, timezone);
    return triggers === this.triggers ? this : new OrTrigger(triggers, this.#jitter);
  }
}

/** Fires whenever any of `triggers` fires (the earliest next time of all of them). */
export function or(triggers: readonly Trigger[], options: CombiningOptions = {}): OrTrigger {
  return new OrTrigger(checkChildren(triggers, 'or'), readJitter({ ...options }, 'or'));
}
