import type { ExecutionRecord } from '../stores/records.ts';
import { isWellFormedEvent } from './event-shape.ts';
import type { KairosEvent } from './event-types.ts';

/** PostgreSQL NOTIFY payloads must stay under 8,000 bytes. */
export const MAX_PAYLOAD_BYTES = 7_900;

const DATE_KEYS = new Set(['timestamp', 'nextFireTime', 'runAt', 'fireTime', 'startedAt', 'finishedAt', 'retryAt']);

/**
 * Events travel between nodes in packs: `<origin>|<JSON array of events>`, each pack under the
 * NOTIFY size limit. The origin comes first so a node can drop the echo of its own notifications
 * without parsing them. Execution events travel without the execution's arguments, result and
 * stack (a listener that needs those reads the record from the store), which keeps a busy
 * cluster's event traffic small.
 */
export function packEvents(
  origin: string,
  events: readonly KairosEvent[],
  onTooBig: (event: KairosEvent) => void = () => {},
): string[] {
  const packs: string[] = [];
  let current: string[] = [];
  let size = origin.length + 3;
  for (const event of events) {
    const text = fittedText(event, MAX_PAYLOAD_BYTES - origin.length - 4);
    if (text === null) {
      onTooBig(event); // never send a broken pack
      continue;
    }
    const bytes = Buffer.byteLength(text) + 1;
    if (size + bytes > MAX_PAYLOAD_BYTES && current.length > 0) {
      packs.push(`${origin}|[${current.join(',')}]`);
      current = [];
      size = origin.length + 3;
    }
    current.push(text);
    size += bytes;
  }
  if (current.length > 0) packs.push(`${origin}|[${current.join(',')}]`);
  return packs;
}

/** The well-formed events of a pack, dates revived; none for a pack from `ownOrigin` or anything malformed. */
export function unpackEvents(payload: string, ownOrigin: string): KairosEvent[] {
  const bar = payload.indexOf('|');
  if (bar <= 0 || payload.slice(0, bar) === ownOrigin) return [];
  try {
    const parsed = JSON.parse(payload.slice(bar + 1), (key, value) =>
      DATE_KEYS.has(key) && typeof value === 'string' ? new Date(value) : value,
    ) as unknown;
    if (!Array.isArray(parsed)) return [];
    return parsed.filter((event): event is KairosEvent => isWellFormedEvent(event));
  } catch {
    return [];
  }
}

/**
 * The event's JSON as it travels, in at most `maxBytes` (null if it cannot be: ids of 200 characters
 * that each take 6 bytes in JSON): an execution without its arguments, result and stack, and any
 * error's name and message cut short, shorter still if the text still does not fit.
 */
function fittedText(event: KairosEvent, maxBytes: number): string | null {
  for (const [name, message] of [
    [200, 500],
    [50, 100],
    [0, 0],
  ] as const) {
    const text = JSON.stringify(compact(event, name, message));
    if (Buffer.byteLength(text) <= maxBytes) return text;
  }
  return null;
}

function compact(event: KairosEvent, nameChars: number, messageChars: number): KairosEvent {
  const shortError = (error: { name: string; message: string }) => ({
    name: error.name.slice(0, nameChars),
    message: error.message.slice(0, messageChars),
  });
  if (event.type === 'scheduler.error') return { ...event, error: shortError(event.error) };
  if (!('execution' in event)) return event;
  const { error } = event.execution;
  const execution: ExecutionRecord = {
    ...event.execution,
    args: null,
    result: null,
    error: error && { ...shortError(error), stack: null },
  };
  return { ...event, execution };
}
