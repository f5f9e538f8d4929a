import type { Logger } from '../../common/logger.ts';
import { uuidv7 } from '../../common/uuid.ts';
import type { EventBroker, EventListener } from '../../events/event-broker.ts';
import type { KairosEvent } from '../../events/event-types.ts';
import { LocalEventBroker } from '../../events/local-event-broker.ts';
import { packEvents, unpackEvents } from '../../events/serialized-event.ts';
import type { PgClient, PgPool } from './pg-types.ts';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;

export interface PostgresEventBrokerOptions {
  pool: PgPool;
  /** Makes the dedicated LISTEN connection. */
  connect: () => PgClient;
  channel: string;
  logger: Logger;
}

/**
 * Events between nodes over PostgreSQL LISTEN/NOTIFY. Events are delivered here at once and sent
 * to the other nodes in batches (one NOTIFY query per event-loop turn); a node ignores the echo of
 * its own. The LISTEN connection is dedicated; when it drops, it is re-made with back-off, and
 * meanwhile the schedulers' slow poll keeps everything moving.
 */
export class PostgresEventBroker implements EventBroker {
  /** Identifies this broker's own notifications, and those written inside transactions. */
  readonly origin = uuidv7();
  private readonly options: PostgresEventBrokerOptions;
  private readonly local = new LocalEventBroker();
  private listener: PgClient | null = null;
  private outbox: KairosEvent[] = [];
  private flushScheduled = false;
  private running = false;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly reconnectListeners = new Set<() => void>();

  constructor(options: PostgresEventBrokerOptions) {
    this.options = options;
  }

  get connected(): boolean {
    return this.listener !== null;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.listen();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    await this.flush();
    const listener = this.listener;
    this.listener = null;
    if (listener !== null) {
      listener.removeAllListeners();
      listener.on('error', () => {});
      await listener.end().catch(() => undefined);
    }
  }

  publish(event: KairosEvent): void {
    this.local.publish(event);
    if (!this.running) return;
    this.outbox.push(event);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  subscribe(listener: EventListener): () => void {
    return this.local.subscribe(listener);
  }

  /** Called after the LISTEN connection is (re)made: anything may have happened meanwhile. */
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** A notification text for the caller's own transaction, delivered to every node (this one too) on commit. */
  serializeForTransaction(event: KairosEvent): string {
    return packEvents(`tx:${this.origin}`, [event])[0] ?? '';
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0) return;
    try {
      await this.options.pool.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [
        this.options.channel,
        packEvents(this.origin, batch),
      ]);
    } catch (error) {
      // Best effort by design: other nodes' polls still find the work.
      this.options.logger.warn(
        { error: String(error), events: batch.length },
        'PostgresEventBroker: could not notify other nodes',
      );
    }
  }

  private async listen(): Promise<void> {
    const client = this.options.connect();
    client.on('notification', (message) => {
      if (message.channel !== this.options.channel || message.payload === undefined) return;
      for (const event of unpackEvents(message.payload, this.origin)) this.local.publish(event);
    });
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = null;
      this.options.logger.warn(
        { error: String(error ?? 'connection ended') },
        'PostgresEventBroker: lost the LISTEN connection; reconnecting',
      );
      client.removeAllListeners();
      client.on('error', () => {});
      void client.end().catch(() => undefined);
      this.scheduleRetry();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      await client.query(`LISTEN "${this.options.channel}"`);
      this.listener = client;
      this.retryMs = FIRST_RETRY_MS;
      for (const listener of this.reconnectListeners) listener();
    } catch (error) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => undefined);
      if (!this.running) return;
      this.options.logger.warn({ error: String(error) }, 'PostgresEventBroker: could not LISTEN; retrying');
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (!this.running || this.retryTimer !== null) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.running) void this.listen();
    }, delay);
    this.retryTimer.unref();
  }
}
