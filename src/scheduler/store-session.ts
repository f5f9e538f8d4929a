import { SchedulerStateError, StoreError } from '../errors.ts';
import { START_GIVEN_UP, type StoreContext } from '../stores/data-store.ts';
import { steadyNow } from '../time/clock.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * How long a reading of the offset from the store's clock is trusted in a process that claims
 * nothing (claims re-measure it): the node's clock may since have been stepped or slewed (NTP).
 */
const CLOCK_READING_MAX_AGE_MS = 60_000;

/**
 * The scheduler's use of its store and broker: opened once on first use (migrations, listeners),
 * closed on stop. `ready` is a cheap check, so the hot paths skip awaiting a settled promise.
 */
export class StoreSession {
  /** The store and broker are open (calls may still be waiting to go on: see `ready`). */
  opened = false;
  /** Calls queued by `afterOpen` that have not yet gone on. */
  private waiting = 0;
  private readonly runtime: SchedulerRuntime;
  private readonly context: StoreContext;
  private opening: Promise<void> | null = null;
  /** The last close: an open waits for it (a stop may leave it going on in the background). */
  private closing: Promise<void> = Promise.resolve();
  /** What queued calls wait for once the session is open: the opening, then the latest clock reading. */
  private settled: Promise<void> = Promise.resolve();
  /** When (steady clock) the store's clock was last read here; -Infinity: never. */
  private clockReadAt = Number.NEGATIVE_INFINITY;
  /** Whether the scheduler's own claims keep the offset from the store's clock up to date (it runs). */
  private readonly claimsReadClock: () => boolean;
  private stopWatchingReconnects: (() => void) | null = null;
  /** A stop came while the session opened (see `abandonOpening`); until the next opening. */
  private abandoned = false;

  constructor(runtime: SchedulerRuntime, wake: () => void, claimsReadClock: () => boolean) {
    this.runtime = runtime;
    this.context = {
      events: runtime.events,
      clock: runtime.clock,
      logger: runtime.logger,
      wake,
      startUnwanted: () => this.abandoned && !this.opened,
    };
    this.claimsReadClock = claimsReadClock;
  }

  open(): Promise<void> {
    if (this.opening !== null) return this.opening;
    this.abandoned = false;
    this.opening = (async () => {
      await this.closing.catch(() => undefined);
      // Wake-ups sent while the broker's link was down were lost: look at the store once it is back.
      this.stopWatchingReconnects ??= this.runtime.events.onReconnect?.(this.context.wake) ?? null;
      let storeStarted = false;
      try {
        await this.runtime.events.start();
        await this.runtime.store.start(this.context);
        storeStarted = true;
        await this.readStoreClock();
      } catch (error) {
        // Nothing stays open for a session that did not open (a LISTEN connection would). A start
        // given up for a stop (see `abandonOpening`) may leave the store's connections open too.
        this.stopWatchingReconnects?.();
        this.stopWatchingReconnects = null;
        if (storeStarted || this.abandoned) await this.runtime.store.stop(this.context).catch(() => undefined);
        await this.runtime.events.stop().catch(() => undefined);
        // (A failure of its own, in an opening that went on, is told as it is.)
        throw this.abandoned && isStartGivenUp(error) ? abandonedError(error) : error;
      }
      this.opened = true;
    })().catch((error: unknown) => {
      this.opening = null;
      throw error;
    });
    this.settled = this.opening;
    return this.opening;
  }

  /**
   * A stop came while the session opens: a store whose start waits (for another node's migration)
   * gives up (`StoreContext.startUnwanted`), rather than hold the stop for as long as that takes.
   * An opening that need not wait goes on, and the calls waiting for it with it.
   */
  abandonOpening(): void {
    if (this.opening !== null && !this.opened) this.abandoned = true;
  }

  /** A store with a clock of its own (a database): learns how far this node's clock is off. */
  private async readStoreClock(): Promise<void> {
    if (this.runtime.store.now === undefined) return;
    this.clockReadAt = steadyNow(this.runtime.clock);
    await this.runtime.storeClock.read();
  }

  /**
   * Whether the last reading of the store's clock is too old to make times from (see
   * `CLOCK_READING_MAX_AGE_MS`), or the node's clocks parted since (`StoreClock.diverged`).
   */
  private clockReadingStale(): boolean {
    if (this.runtime.store.now === undefined) return false;
    // (A running node's claims read it again at least every poll, but a call may come first.)
    if (this.runtime.storeClock.diverged()) return true;
    return steadyNow(this.runtime.clock) - this.clockReadAt > CLOCK_READING_MAX_AGE_MS && !this.claimsReadClock();
  }

  /**
   * Whether a call may go to the store at once. Not before the calls that waited for the opening
   * have gone on: they resume a few microtasks after it, and one made in between would overtake them.
   */
  get ready(): boolean {
    return this.opened && this.waiting === 0 && !this.clockReadingStale();
  }

  /**
   * `work` once the session is open (and, in a process that claims nothing, once the store's clock
   * has been read again if the last reading is old), after every call queued before it: the calls
   * resume in the order they were queued, each going on (reaching the store) in the same step as it
   * stops counting as waiting, so none made meanwhile can slip in between.
   */
  afterOpen<T>(work: () => Promise<T>): Promise<T> {
    this.waiting++;
    let gate: Promise<void>;
    if (!this.opened) gate = this.open();
    else {
      // Read again only with no call queued before this one: those wait for `settled` as it is,
      // and one that waited for a newer reading could otherwise go on before them. A failed
      // reading keeps the offset known (the call itself then meets the failure, if it lasts).
      if (this.waiting === 1 && this.clockReadingStale()) this.settled = this.readStoreClock().catch(() => undefined);
      gate = this.settled;
    }
    return gate.then(
      () => {
        this.waiting--;
        return work();
      },
      (error: unknown) => {
        this.waiting--;
        throw error;
      },
    );
  }

  async close(): Promise<void> {
    if (this.opening === null) return;
    // An open still in progress (`ready()` then `stop()`) finishes first, so that it cannot mark
    // the session ready after it was closed; if it waits for the store, it gives up.
    this.abandonOpening();
    await this.opening.catch(() => undefined);
    if (this.opening === null) return; // it failed, and closed what it had opened
    // Calls waiting for a new reading of the store's clock go on (to the store) before it closes.
    await this.settled.catch(() => undefined);
    if (this.opening === null) return; // closed meanwhile by another call
    this.opening = null;
    this.opened = false;
    this.clockReadAt = Number.NEGATIVE_INFINITY;
    this.stopWatchingReconnects?.();
    this.stopWatchingReconnects = null;
    this.closing = (async () => {
      await this.runtime.store.stop(this.context);
      await this.runtime.events.stop();
    })();
    await this.closing;
  }
}

/** The errors made by `abandonedError`. */
const abandonedErrors = new WeakSet<object>();

/** What the calls waiting for an opening that a stop gave up are told (with the store's own error). */
function abandonedError(cause: unknown): SchedulerStateError {
  const error = new SchedulerStateError(
    "stopped while opening the store: it waited (for another node's migration, say), and stop() was called",
    { cause },
  );
  abandonedErrors.add(error);
  return error;
}

/** Whether the store's start gave up for a stop (`StoreContext.startUnwanted`). */
function isStartGivenUp(error: unknown): boolean {
  return error instanceof StoreError && error.code === START_GIVEN_UP;
}

/** Whether `error` says that a stop gave up the opening it came from (see `abandonOpening`). */
export function isAbandonedOpening(error: unknown): boolean {
  return typeof error === 'object' && error !== null && abandonedErrors.has(error);
}
