import type { StoreContext } from '../stores/data-store.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * The scheduler's use of its store and broker: opened once on first use (migrations, listeners),
 * closed on stop. `ready` is a plain flag so the hot paths skip awaiting a settled promise.
 */
export class StoreSession {
  /** The store and broker are open (calls may still be waiting to go on: see `ready`). */
  opened = false;
  /** Calls queued by `afterOpen` that have not yet gone on. */
  private waiting = 0;
  private readonly runtime: SchedulerRuntime;
  private readonly context: StoreContext;
  private opening: Promise<void> | null = null;
  private stopWatchingReconnects: (() => void) | null = null;

  constructor(runtime: SchedulerRuntime, wake: () => void) {
    this.runtime = runtime;
    this.context = { events: runtime.events, clock: runtime.clock, logger: runtime.logger, wake };
  }

  open(): Promise<void> {
    this.opening ??= (async () => {
      // Wake-ups sent while the broker's link was down were lost: look at the store once it is back.
      this.stopWatchingReconnects ??= this.runtime.events.onReconnect?.(this.context.wake) ?? null;
      let storeStarted = false;
      try {
        await this.runtime.events.start();
        await this.runtime.store.start(this.context);
        storeStarted = true;
        // A store with a clock of its own (a database): learn how far this node's clock is off.
        const storeNow = await this.runtime.store.now?.();
        if (storeNow !== undefined) this.runtime.skewMs = storeNow.getTime() - this.runtime.clock.now();
      } catch (error) {
        // Nothing stays open for a session that did not open (a LISTEN connection would).
        this.stopWatchingReconnects?.();
        this.stopWatchingReconnects = null;
        if (storeStarted) await this.runtime.store.stop(this.context).catch(() => undefined);
        await this.runtime.events.stop().catch(() => undefined);
        throw error;
      }
      this.opened = true;
    })().catch((error: unknown) => {
      this.opening = null;
      throw error;
    });
    return this.opening;
  }

  /**
   * Whether a call may go to the store at once. Not before the calls that waited for the opening
   * have gone on: they resume a few microtasks after it, and one made in between would overtake them.
   */
  get ready(): boolean {
    return this.opened && this.waiting === 0;
  }

  /**
   * `work` once the session is open, after every call queued before it: the calls resume in the
   * order they were queued, each going on (reaching the store) in the same step as it stops counting
   * as waiting, so none made meanwhile can slip in between.
   */
  afterOpen<T>(work: () => Promise<T>): Promise<T> {
    this.waiting++;
    return this.open().then(
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
    // the session ready after it was closed.
    await this.opening.catch(() => undefined);
    if (this.opening === null) return; // it failed, and closed what it had opened
    this.opening = null;
    this.opened = false;
    this.stopWatchingReconnects?.();
    this.stopWatchingReconnects = null;
    await this.runtime.store.stop(this.context);
    await this.runtime.events.stop();
  }
}
