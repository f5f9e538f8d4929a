import type { EventBroker, EventListener } from './event-broker.ts';
import type { KairosEvent } from './event-types.ts';

/**
 * Delivers events to subscribers in this process, synchronously and in publish order. A listener
 * that throws is reported through `onListenerError` and never stops delivery to the others.
 */
export class LocalEventBroker implements EventBroker {
  private readonly listeners = new Set<EventListener>();
  private readonly onListenerError: (error: unknown, event: KairosEvent) => void;

  constructor(options: { onListenerError?: (error: unknown, event: KairosEvent) => void } = {}) {
    this.onListenerError =
      options.onListenerError ??
      ((error, event) => {
        console.error(`kairos: an event listener threw on ${event.type}`, error);
      });
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  publish(event: KairosEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    // Wrap so the same function can subscribe twice and unsubscribe each independently.
    const entry: EventListener = (event) => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }
}
