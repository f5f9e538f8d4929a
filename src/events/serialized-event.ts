import type { KairosEvent } from './event-types.ts';

/** PostgreSQL NOTIFY payloads must stay under 8,000 bytes. */
export const MAX_PAYLOAD_BYTES = 7_900;

const DATE_KEYS = new Set(['timestamp', 'nextFireTime', 'runAt', 'fireTime', 'startedAt', 'finishedAt', 'retryAt']);

/**
 * An event as text for another node. Big executions (long stacks, large arguments or results) are
 * trimmed so the payload fits; listeners that need the whole record read it from the store.
 */
export function serializeEvent(origin: string, event: KairosEvent): string {
  let text = JSON.stringify({ o: origin, e: event });
  if (Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES || !('execution' in event)) return text;
  const execution = {
    ...event.execution,
    args: null,
    result: null,
    error: event.execution.error && { ...event.execution.error, stack: null },
  };
  text = JSON.stringify({ o: origin, e: { ...event, execution }, trimmed: true });
  if (Buffer.byteLength(text) <= MAX_PAYLOAD_BYTES) return text;
  const message = execution.error?.message.slice(0, 1000) ?? '';
  return JSON.stringify({
    o: origin,
    e: { ...event, execution: { ...execution, error: execution.error && { ...execution.error, message } } },
    trimmed: true,
  });
}

/** The event back from its text, dates revived; null for anything that is not one. */
export function deserializeEvent(text: string): { origin: string; event: KairosEvent } | null {
  try {
    const parsed = JSON.parse(text, (key, value) =>
      DATE_KEYS.has(key) && typeof value === 'string' ? new Date(value) : value,
    ) as { o?: unknown; e?: { type?: unknown } };
    if (typeof parsed.o !== 'string' || typeof parsed.e?.type !== 'string') return null;
    return { origin: parsed.o, event: parsed.e as KairosEvent };
  } catch {
    return null;
  }
}
