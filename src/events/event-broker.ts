import type { EventInterest } from './event-interest.ts';
import type { KairosEvent } from './event-types.ts';

/**
 * Carries events between scheduler nodes: in-process (`LocalEventBroker`) or across machines
 * (PostgreSQL LISTEN/NOTIFY). Delivery is best effort; the scheduler never depends on an event
 * for correctness, only for promptness (a slow poll remains as the safety net).
 */
export interface EventBroker {
  /**
   * Each scheduler using the broker starts it and stops it: one shared by several schedulers keeps
   * running until the last of them stops.
   */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Delivers `event` to every subscriber on every node, this one included. */
  publish(event: KairosEvent): void;
  /**
   * Returns the function that unsubscribes. `interest` says which events the listener is for (a
   * cluster broker sends observation events to a node only while something there listens for
   * them); the listener may still be called with others. (Default: '*'.)
   */
  subscribe(listener: EventListener, interest?: EventInterest): () => void;
  /**
   * For a broker whose link to the other nodes can drop (a connection): `listener` is called each
   * time the link is made again, since events sent meanwhile were lost. Returns the function that
   * unsubscribes.
   */
  onReconnect?(listener: () => void): () => void;
}

export type EventListener = (event: KairosEvent) => void;
