import { type EventInterest, interestKeys } from '../../events/event-interest.ts';
import type { KairosEvent } from '../../events/event-types.ts';

/** A node that has not repeated its interest for this long is taken to be gone. */
export const INTEREST_TTL_MS = 5 * 60_000;
/** How often a node with listeners repeats its interest (well within the TTL). */
export const INTEREST_REPEAT_MS = 2 * 60_000;

/**
 * Who in the cluster listens for which event types: this node's listeners, counted, and what the
 * other nodes announced. A cluster broker sends observation events (see `isObservation`) only to
 * a cluster where some other node listens for them.
 */
export class ClusterInterest {
  private readonly local = new Map<string, number>();
  private readonly remote = new Map<string, { keys: ReadonlySet<string>; seenAt: number }>();
  private remoteKeys = new Set<string>();

  /** Counts a local listener's interest; `changed` is called when the set of wanted types changes. */
  add(interest: EventInterest, changed: () => void): () => void {
    const keys = interest === '*' ? ['*'] : [...new Set(interest)];
    let grew = false;
    for (const key of keys) {
      const count = this.local.get(key) ?? 0;
      this.local.set(key, count + 1);
      grew ||= count === 0;
    }
    if (grew) changed();
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      let shrank = false;
      for (const key of keys) {
        const count = (this.local.get(key) ?? 1) - 1;
        if (count > 0) this.local.set(key, count);
        else {
          this.local.delete(key);
          shrank = true;
        }
      }
      if (shrank) changed();
    };
  }

  /** The types this node's listeners want, for its announcement. */
  localKeys(): string[] {
    return [...this.local.keys()].sort();
  }

  /** Records another node's announcement; an empty list withdraws it. */
  setRemote(origin: string, keys: readonly string[], now: number): void {
    if (keys.length === 0) this.remote.delete(origin);
    else this.remote.set(origin, { keys: new Set(keys), seenAt: now });
    this.merge();
  }

  /** Forgets nodes that stopped repeating their interest (they died without withdrawing it). */
  expire(now: number): void {
    let expired = false;
    for (const [origin, entry] of this.remote) {
      if (now - entry.seenAt > INTEREST_TTL_MS) {
        this.remote.delete(origin);
        expired = true;
      }
    }
    if (expired) this.merge();
  }

  /** Whether some other node listens for this event. */
  wantedElsewhere(event: KairosEvent): boolean {
    // Most clusters have no listener elsewhere: answer those without building the event's keys.
    if (this.remoteKeys.size === 0) return false;
    return this.remoteKeys.has('*') || interestKeys(event).some((key) => this.remoteKeys.has(key));
  }

  private merge(): void {
    this.remoteKeys = new Set([...this.remote.values()].flatMap((entry) => [...entry.keys]));
  }
}
