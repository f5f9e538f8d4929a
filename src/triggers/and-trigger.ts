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
 * Rounds of the leapfrog search before `next` gives up and returns null. Children that share a
 * fire time usually meet within a few rounds; children that never meet (`0 9 * * *` and
 * `0 10 * * *`) would otherwise search until the end of time. Null after the cap means "no common
 * fire time found within 10,000 rounds", which for real schedules means none at all.
 */
export const AND_MAX_ITERATIONS = 10_000;

/**
 * Fires when all children fire at the same instant (e.g. a cron schedule limited to the
 * instants an interval also hits).
 */
export class AndTrigger implements Trigger {
  readonly type = 'and' as const;
  readonly jitterMs: number;
  readonly triggers: readonly Trigger[];
  readonly #jitter: number | undefined;

  constructor(triggers: readonly Trigger[], jitter?: number) {
    this.triggers = triggers;
    this.#jitter = jitter;
    this.jitterMs = jitter === undefined ? 0 : Math.round(jitter * 1000);
  }

  static fromJSON(json: unknown, parseChild: (child: unknown) => Trigger): AndTrigger {
    const { triggers, jitter } = readCombiningJson(json, 'and', parseChild);
    return new AndTrigger(triggers, jitter);
  }

  /**
   * Leapfrog: ask every child for its next time after `after`; if they differ, ask again from
   * just before the latest one (no child can fire in common earlier than that), until all agree.
   */
  next(after: Date): Date | null {
    let time = timeOf(after);
    for (let round = 0; round < AND_MAX_ITERATIONS; round++) {
      let latest = Number.NEGATIVE_INFINITY;
      let agree = true;
      for (const child of this.triggers) {
        const fire = child.next(new Date(time));
        if (fire === null) return null;
        const fireMs = fire.getTime();
        if (latest !== Number.NEGATIVE_INFINITY && fireMs !== latest) agree = false;
        if (fireMs > latest) latest = fireMs;
      }
      if (agree) return new Date(latest);
      time = latest - 1;
    }
    return null;
  }

  toJSON(): CombiningTriggerJson {
    return combiningJson('and', this.triggers, this.#jitter);
  }

  describe(): string {
    return `When all of these fire at the same time: ${this.triggers.map(describeChild).join('; ')}`;
  }

  withDefaultTimezone(timezone: string): AndTrigger {
    const triggers = childrenWithTimezone(this.triggers, timezone);
    return triggers === this.triggers ? this : new AndTrigger(triggers, this.#jitter);
  }
}

/** Fires when all `triggers` fire at the same instant; see `AND_MAX_ITERATIONS`. */
export function and(triggers: readonly Trigger[], options: CombiningOptions = {}): AndTrigger {
  return new AndTrigger(checkChildren(triggers, 'and'), readJitter({ ...options }, 'and'));
}
