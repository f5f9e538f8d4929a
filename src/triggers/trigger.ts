import type { TriggerJson, TriggerType } from './trigger-json.ts';

/**
 * A trigger computes fire times. It is pure (no clock, no state between calls) and serializable:
 * `triggerFromJSON(t.toJSON())` behaves exactly like `t`.
 */
export interface Trigger {
  readonly type: TriggerType;
  /**
   * Maximum random delay, in milliseconds, the scheduler adds to each fire (the JSON `jitter`,
   * given in seconds). The trigger itself never applies it, so its fire times stay previewable.
   */
  readonly jitterMs: number;
  /** The first fire time strictly after `after`, or `null` when the trigger will never fire again. */
  next(after: Date): Date | null;
  /** The persisted form (frozen: it may be shared); timezone and dates as given or filled in by `withDefaultTimezone`. */
  toJSON(): TriggerJson;
  /** A sentence for humans, e.g. `At 00:00, Monday through Friday (Europe/Berlin)`. */
  describe(): string;
  /** This trigger with `timezone` filled in wherever it has none of its own (itself if none is missing). */
  withDefaultTimezone(timezone: string): Trigger;
}
