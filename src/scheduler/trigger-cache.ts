import { triggerFromJSON } from '../triggers/index.ts';
import type { Trigger } from '../triggers/trigger.ts';
import type { TriggerJson } from '../triggers/trigger-json.ts';

const MAX_ENTRIES = 10_000;

/**
 * Compiled triggers by their JSON. Schedules are processed over and over; parsing a cron
 * expression every time would cost more than computing its next fire time. Keyed by object
 * identity first (the memory store hands out the same frozen JSON each time), then by text.
 */
export class TriggerCache {
  private readonly byObject = new WeakMap<object, Trigger>();
  private readonly byText = new Map<string, Trigger>();

  get(json: TriggerJson): Trigger {
    const known = this.byObject.get(json);
    if (known !== undefined) return known;
    const text = JSON.stringify(json);
    let trigger = this.byText.get(text);
    if (trigger === undefined) {
      trigger = triggerFromJSON(json);
      if (this.byText.size >= MAX_ENTRIES) this.byText.clear();
      this.byText.set(text, trigger);
    }
    this.byObject.set(json, trigger);
    return trigger;
  }
}
