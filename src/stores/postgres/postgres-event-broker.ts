import type { Logger } from '../../common/logger.ts';
import { uuidv7 } from '../../common/uuid.ts';
import type { EventBroker, EventListener } from '../../events/event-broker.ts';
import { EXECUTION_EVENT_TYPES, type EventInterest, isObservation } from '../../events/event-interest.ts';
import type { KairosEvent } from '../../events/event-types.ts';
import { LocalEventBroker } from '../../events/local-event-broker.ts';
import { MAX_PAYLOAD_BYTES, packEvents, unpackEvents } from '../../events/serialized-event.ts';
import { ClusterInterest, INTEREST_REPEAT_MS } from './cluster-interest.ts';
import { abortClient, closeClient } from './pg-driver.ts';
import type { PgClient, PgConfigQueryable, PgPool } from './pg-types.ts';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 10_000;
/**
 * How long a LISTEN connection must have lasted for its loss to start the back-off afresh: one the
 * server or a proxy ends after a fixed idle time (`idle_session_timeout`) would otherwise be made
 * again every 250 ms, each time with a warning, a question to every node and a look at the store.
 */
const STABLE_LISTEN_MS = 60_000;
/** How long a LISTEN connection is given to close politely when no `checkEveryMs` says otherwise. */
const CLOSE_WAIT_MS = 10_000;
/**
 * How soon control messages of a NOTIFY that failed go out again (with whatever is sent meanwhile):
 * a second after the first failure, doubling while they keep failing (a database that is down).
 */
const CONTROL_RETRY_FIRST_MS = 1000;
/** How long a NOTIFY waits for the one before it to be answered (see `flush`). */
const NOTIFY_ORDER_WAIT_MS = 1000;
const CONTROL_RETRY_MAX_MS = 30_000;

export interface PostgresEventBrokerOptions {
  pool: PgPool;
  /** Makes the dedicated LISTEN connection. */
  connect: () => PgClient;
  channel: string;
  logger: Logger;
  /**
   * How often the LISTEN connection is asked to answer, and how long it has to: one that does
   * not is taken for lost and made again. null: never asked.
   */
  checkEveryMs?: number | null;
}

/**
 * Events between nodes over PostgreSQL LISTEN/NOTIFY. Events are delivered here at once and sent
 * to the other nodes in batches (one NOTIFY query per event-loop turn); a node ignores the echo of
 * its own. The LISTEN connection is dedicated; when it drops, it is re-made with back-off, and
 * meanwhile the schedulers' slow poll keeps everything moving.
 *
 * Observation events (a job started, a run's outcome) are most of a busy cluster's traffic and
 * only listeners need them, so they go out only while another node listens for their type. Nodes
 * announce what their listeners want (`<origin>|!<JSON list>`) when it changes, when a node asks
 * (`<origin>|?`, sent by every node as it connects) and every two minutes; a node that stops
 * repeating itself is forgotten after five.
 *
 * A connection that only reads cannot tell a quiet database from a dead link (a failover that
 * leaves the old sockets open): the broker asks it a trivial query every `checkEveryMs`, and one
 * that does not answer in time is dropped and made again like any lost connection.
 */
export class PostgresEventBroker implements EventBroker {
  /** Identifies this broker's own notifications, and those written inside transactions. */
  readonly origin = uuidv7();
  /** Asks the other nodes what they listen for (its echo also says this node's LISTEN hears). */
  private readonly question = `${this.origin}|?`;
  private readonly options: PostgresEventBrokerOptions;
  private readonly local: LocalEventBroker;
  private listener: PgClient | null = null;
  /** A LISTEN connection being made (connect, then LISTEN): a stop closes it too. */
  private connecting: PgClient | null = null;
  private outbox: KairosEvent[] = [];
  /** Announcements and questions, sent before the events of the same turn. */
  private control: string[] = [];
  private readonly interest = new ClusterInterest();
  private repeatTimer: NodeJS.Timeout | null = null;
  private flushScheduled = false;
  private running = false;
  /** The schedulers using it: starts not yet matched by a stop. */
  private userCount = 0;
  /** Stops still to come from users that a `close` let go of: each is done already. */
  private stopsOwed = 0;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Moves on at every start and stop: a LISTEN connect begun before one is not this run's. */
  private generation = 0;
  private readonly reconnectListeners = new Set<() => void>();
  private checkTimer: NodeJS.Timeout | null = null;
  /** Sends again the control messages of a NOTIFY that failed (see `flush`). */
  private controlRetryTimer: NodeJS.Timeout | null = null;
  private controlRetryMs = CONTROL_RETRY_FIRST_MS;
  /** Drops the current LISTEN connection as lost (set while one is connected). */
  private dropListener: ((error: Error) => void) | null = null;
  private checking = false;
  /** The LISTEN connection that has yet to hear this broker's own notification (see `awaitEcho`). */
  private echoAwaitedOn: PgClient | null = null;
  /** Whether the current LISTEN connection has heard this broker's own notification. */
  private heard = false;
  private hearingTimer: NodeJS.Timeout | null = null;

  constructor(options: PostgresEventBrokerOptions) {
    this.options = options;
    this.local = new LocalEventBroker({
      onListenerError: (error, event) =>
        options.logger.error({ error: String(error), event: event.type }, 'an event listener threw'),
    });
  }

  /** How many schedulers started it and have not stopped it yet. */
  get users(): number {
    return this.userCount;
  }

  get connected(): boolean {
    return this.listener !== null;
  }

  /** Whether the LISTEN connection has heard a notification of this node's own: it does receive them. */
  get hearing(): boolean {
    return this.listener !== null && this.heard;
  }

  async start(): Promise<void> {
    this.userCount++;
    if (this.running) return;
    this.running = true;
    this.generation++;
    this.repeatTimer = setInterval(() => {
      // (On the monotonic clock, as the announcements' arrival: a step of the wall clock does not
      // expire the interest of live nodes.)
      this.interest.expire(performance.now());
      if (this.interest.localKeys().length > 0) this.announce();
    }, INTEREST_REPEAT_MS);
    this.repeatTimer.unref();
    const checkEveryMs = this.options.checkEveryMs ?? null;
    if (checkEveryMs !== null) {
      this.checkTimer = setInterval(() => void this.checkListener(checkEveryMs), checkEveryMs);
      this.checkTimer.unref();
    }
    await this.listen();
  }

  /** One user is done with it; it closes when no other uses it. */
  async stop(): Promise<void> {
    if (this.stopsOwed > 0) {
      this.stopsOwed--;
      return;
    }
    if (this.userCount > 1) {
      this.userCount--;
      return;
    }
    this.userCount = 0;
    await this.shutDown();
  }

  /**
   * Closes it whoever still uses it: the last stop of the store it belongs to, which ends the
   * pool its notifications go through. The stops of its users that follow do nothing, and so do
   * not stop it under a scheduler that started it again meanwhile.
   */
  async close(): Promise<void> {
    this.stopsOwed += this.userCount;
    this.userCount = 0;
    await this.shutDown();
  }

  private async shutDown(): Promise<void> {
    // Withdraw this node's interest, so nobody keeps sending to a node that is gone.
    if (this.running && this.interest.localKeys().length > 0) this.control.push(`${this.origin}|![]`);
    this.running = false;
    this.retryMs = FIRST_RETRY_MS; // a start after this one begins afresh
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null; // else a later start's lost connection would wait for this cleared timer
    if (this.repeatTimer !== null) clearInterval(this.repeatTimer);
    this.repeatTimer = null;
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    this.checkTimer = null;
    if (this.controlRetryTimer !== null) clearTimeout(this.controlRetryTimer);
    this.controlRetryTimer = null;
    this.controlRetryMs = CONTROL_RETRY_FIRST_MS;
    this.stopAwaitingEcho();
    // Taken now: a start during the flush below makes a LISTEN connection of its own.
    const listener = this.listener;
    this.listener = null;
    this.dropListener = null;
    // A connection still being made would keep the process alive until its connect or LISTEN gave
    // up (for ever without a time limit), and could open a LISTEN session after the stop.
    const connecting = this.connecting;
    this.connecting = null;
    if (connecting !== null) abortClient(connecting); // its listen() then closes it and retries nothing
    await this.flush();
    if (listener !== null) {
      unhook(listener);
      await this.closeListenClient(listener);
    }
  }

  publish(event: KairosEvent): void {
    this.local.publish(event);
    if (!this.running || (isObservation(event) && !this.interest.wantedElsewhere(event))) return;
    this.outbox.push(event);
    this.scheduleFlush();
  }

  subscribe(listener: EventListener, interest: EventInterest = '*'): () => void {
    const unsubscribe = this.local.subscribe(listener);
    const withdraw = this.interest.add(interest, () => this.announce());
    return () => {
      unsubscribe();
      withdraw();
    };
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

  /** Tells the other nodes which event types this node's listeners want now. */
  private announce(): void {
    if (!this.running) return;
    this.control = this.control.filter((message) => !this.isOwnAnnouncement(message));
    this.control.push(this.announcement());
    this.scheduleFlush();
  }

  /**
   * This node's interest as a control message. One that names too many capped tasks for a NOTIFY
   * (over 8,000 bytes would fail the whole flush) asks for every run outcome instead: more
   * traffic, nothing missed.
   */
  private announcement(): string {
    const keys = this.interest.localKeys();
    const message = `${this.origin}|!${JSON.stringify(keys)}`;
    if (Buffer.byteLength(message) <= MAX_PAYLOAD_BYTES) return message;
    const coarse = new Set([...keys.filter((key) => !key.startsWith('finished:')), ...EXECUTION_EVENT_TYPES]);
    return `${this.origin}|!${JSON.stringify([...coarse].sort())}`;
  }

  /** The NOTIFY in flight (see `flush`); never rejects. */
  private sending: Promise<void> = Promise.resolve();

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  /** An event no NOTIFY can carry, however short its error: other nodes see its effect at their poll. */
  private tooBig(event: KairosEvent): void {
    this.options.logger.warn(
      { type: event.type },
      'PostgresEventBroker: an event too big for a NOTIFY (ids or names of many bytes) was not sent to other nodes',
    );
  }

  /**
   * Sends what waits, after the NOTIFY in flight if any: one at a time, so that two of this node's
   * arrive in the order they were sent (on two pool connections they could cross: an announcement
   * overtaken by an older one, an outcome by its job's start). What comes meanwhile goes out with
   * the next, in one statement. A NOTIFY that gets no answer for `NOTIFY_ORDER_WAIT_MS` (a
   * connection gone silent) is no longer waited for: the next goes out beside it, out of order
   * rather than held up to the time limit of the silent one (for ever, on a pool with none).
   */
  private flush(): Promise<void> {
    const inFlight = this.sending;
    let timer: NodeJS.Timeout | undefined;
    const givenUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, NOTIFY_ORDER_WAIT_MS);
      timer.unref();
    });
    this.sending = Promise.race([inFlight, givenUp])
      .then(() => clearTimeout(timer))
      .then(() => this.send())
      // Never rejects, or every later NOTIFY would be skipped (send reports its own failures; this
      // is for a logger of the application's that throws while it does).
      .catch(() => undefined);
    return this.sending;
  }

  private async send(): Promise<void> {
    this.flushScheduled = false;
    const batch = this.outbox;
    const control = this.control;
    this.outbox = [];
    this.control = [];
    if (batch.length === 0 && control.length === 0) return;
    // Only a NOTIFY sent while the LISTEN was in place can be heard: not one sent while connecting.
    const awaitingEcho = this.echoAwaitedOn;
    try {
      await this.options.pool.query('SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload', [
        this.options.channel,
        [...control, ...packEvents(this.origin, batch, (event) => this.tooBig(event))],
      ]);
      this.controlRetryMs = CONTROL_RETRY_FIRST_MS;
      // Control messages are all this broker's own.
      if (control.length > 0 && awaitingEcho !== null && awaitingEcho === this.echoAwaitedOn) this.echoSent();
    } catch (error) {
      this.sendControlAgain(control);
      // Best effort by design: other nodes' polls still find the work.
      this.options.logger.warn(
        { error: String(error), events: batch.length },
        'PostgresEventBroker: could not notify other nodes',
      );
    }
  }

  /**
   * The control messages of a NOTIFY that failed, that still matter, go out again soon: the
   * question (its echo is what tells a deaf LISTEN apart), and this node's announcement as it is
   * now (until the others have it, they do not send this node what its listeners wait for; after
   * an outage of over 5 minutes they have forgotten it, and the one sent on reconnecting, on a pool
   * whose connections the outage may have broken, is the one that counts; an answer to another
   * node's question is one too). A withdrawal on stop is not sent again.
   */
  private sendControlAgain(failed: readonly string[]): void {
    if (!this.running) return;
    const again: string[] = [];
    if (this.echoAwaitedOn !== null && failed.includes(this.question)) again.push(this.question);
    const own = (message: string) => this.isOwnAnnouncement(message);
    if (failed.some(own) && !this.control.some(own)) again.push(this.announcement());
    if (again.length === 0) return;
    this.control.unshift(...again);
    if (this.controlRetryTimer !== null) return;
    const wait = this.controlRetryMs;
    this.controlRetryMs = Math.min(CONTROL_RETRY_MAX_MS, wait * 2);
    this.controlRetryTimer = setTimeout(() => {
      this.controlRetryTimer = null;
      this.scheduleFlush();
    }, wait);
    this.controlRetryTimer.unref();
  }

  private isOwnAnnouncement(message: string): boolean {
    return message.startsWith(`${this.origin}|!`);
  }

  private async listen(): Promise<void> {
    const generation = this.generation;
    const client = this.options.connect();
    client.on('notification', (message) => {
      if (message.channel !== this.options.channel || message.payload === undefined) return;
      if (this.handleControl(message.payload)) return;
      for (const event of unpackEvents(message.payload, this.origin)) this.local.publish(event);
    });
    let listeningSince = Number.POSITIVE_INFINITY;
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      if (performance.now() - listeningSince >= STABLE_LISTEN_MS) this.retryMs = FIRST_RETRY_MS;
      this.listener = null;
      this.dropListener = null;
      this.options.logger.warn(
        { error: String(error ?? 'connection ended') },
        'PostgresEventBroker: lost the LISTEN connection; reconnecting',
      );
      unhook(client);
      // Lost: closed at once, not politely (a connection that stopped answering would keep the
      // process alive, a stop too, until the polite close gave up).
      abortClient(client);
      this.scheduleRetry();
    };
    client.on('error', lost);
    client.on('end', lost);
    this.connecting = client;
    try {
      await client.connect();
      // Bounded like the checks: a link that goes silent right after connecting must not leave
      // this broker waiting for ever, with no retry planned.
      const checkEveryMs = this.options.checkEveryMs ?? null;
      const listen = `LISTEN "${this.options.channel}"`;
      await (client as unknown as PgConfigQueryable).query(
        checkEveryMs === null ? { text: listen } : { text: listen, query_timeout: checkEveryMs },
      );
      // Stopped while connecting (and maybe started again, with a connect of its own).
      if (!this.running || generation !== this.generation) throw new Error('stopped while connecting');
      if (this.connecting === client) this.connecting = null;
      this.listener = client;
      this.dropListener = lost;
      listeningSince = performance.now();
      // Ask the others what they listen for (they may have announced it while this node was away);
      // the question's echo also says that this connection hears notifications at all.
      this.control.push(this.question);
      this.awaitEcho(client);
      if (this.interest.localKeys().length > 0) this.announce();
      else this.scheduleFlush();
      for (const listener of this.reconnectListeners) listener();
    } catch (error) {
      if (this.connecting === client) this.connecting = null;
      unhook(client);
      await this.closeListenClient(client);
      if (!this.running || generation !== this.generation) return;
      this.options.logger.warn({ error: String(error) }, 'PostgresEventBroker: could not LISTEN; retrying');
      this.scheduleRetry();
    }
  }

  /** Ends a LISTEN connection, waiting for a polite close no longer than the checks wait for answers. */
  private closeListenClient(client: PgClient): Promise<void> {
    return closeClient(client, this.options.checkEveryMs ?? CLOSE_WAIT_MS);
  }

  /** Asks the LISTEN connection for an answer within `timeoutMs`; drops it if none comes. */
  private async checkListener(timeoutMs: number): Promise<void> {
    const client = this.listener;
    const drop = this.dropListener;
    if (client === null || drop === null || this.checking) return;
    // A question that a failed NOTIFY left behind goes now, on a node that has nothing else to send.
    if (this.echoAwaitedOn === client && this.control.includes(this.question)) this.scheduleFlush();
    this.checking = true;
    try {
      await (client as unknown as PgConfigQueryable).query({ text: 'SELECT 1', query_timeout: timeoutMs });
    } catch (error) {
      if (this.listener === client) drop(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.checking = false;
    }
  }

  /**
   * From the time a notification of this broker's goes out (see `flush`), `client` has the check
   * period to hear it; if it does not, a warning. LISTEN then "works" without a word while no
   * notification ever arrives: behind a pooler in transaction mode (PgBouncer), the session that
   * listens is handed to other clients as soon as the LISTEN is done, and nodes see work added
   * elsewhere only when they poll.
   */
  private awaitEcho(client: PgClient): void {
    this.stopAwaitingEcho();
    this.heard = false;
    this.echoAwaitedOn = client;
  }

  private stopAwaitingEcho(): void {
    this.echoAwaitedOn = null;
    if (this.hearingTimer !== null) clearTimeout(this.hearingTimer);
    this.hearingTimer = null;
  }

  /** A notification of this broker's went out: the connection awaiting its echo has a while to hear it. */
  private echoSent(): void {
    const client = this.echoAwaitedOn;
    if (client === null || this.hearingTimer !== null) return;
    const waitMs = this.options.checkEveryMs ?? CLOSE_WAIT_MS;
    this.hearingTimer = setTimeout(() => {
      this.hearingTimer = null;
      if (this.echoAwaitedOn !== client || this.listener !== client) return;
      this.echoAwaitedOn = null;
      this.options.logger.warn(
        { channel: this.options.channel, waitedMs: waitMs },
        "PostgresEventBroker: the LISTEN connection hears no notifications, not even this node's own: behind a pooler in transaction mode (PgBouncer) LISTEN needs a connection straight to PostgreSQL (PostgresStore listenConnectionString); until then nodes see work added elsewhere only when they poll",
      );
    }, waitMs);
    this.hearingTimer.unref();
  }

  /** Handles an announcement or a question from another node; false for an event pack. */
  private handleControl(payload: string): boolean {
    const bar = payload.indexOf('|');
    const kind = payload[bar + 1];
    if (bar <= 0 || (kind !== '!' && kind !== '?')) return false;
    const origin = payload.slice(0, bar);
    if (origin === this.origin) {
      this.heard = true;
      this.stopAwaitingEcho();
      return true;
    }
    if (kind === '?') {
      if (this.interest.localKeys().length > 0) this.announce();
      return true;
    }
    try {
      const keys = JSON.parse(payload.slice(bar + 2)) as unknown;
      if (Array.isArray(keys) && keys.every((key) => typeof key === 'string')) {
        this.interest.setRemote(origin, keys, performance.now());
      }
    } catch {
      // a malformed announcement is ignored; the node repeats it within minutes
    }
    return true;
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

/** Stops listening to a LISTEN connection being let go; an error it still reports is ignored, not thrown. */
function unhook(client: PgClient): void {
  client.removeAllListeners();
  client.on('error', () => {});
}
