import type { DataStore } from '../stores/data-store.ts';
import { type Clock, steadyNow } from '../time/clock.ts';

/**
 * How far the node's wall and monotonic clocks may part between two readings of the store's clock
 * before the offset kept against the monotonic one is no longer trusted (see `diverged`).
 */
const CLOCK_DIVERGENCE_MS = 1000;

/**
 * This node's estimate of the store's clock: lease and due times are the store's, while the node's
 * timers run on its own steady (monotonic) clock.
 *
 * A store with a clock of its own (a database, `DataStore.now`) is estimated by an offset from the
 * node's steady clock, learned from the store's answers, so that a step of the node's wall clock
 * (NTP) moves none of the times the node makes. A store in the process keeps a clock of the process
 * (usually the node's own): its offset is taken against the wall clock, whose steps it follows.
 */
export class StoreClock {
  private readonly clock: Clock;
  private readonly store: Pick<DataStore, 'now'>;
  private readonly storeHasClock: boolean;
  /** Store time minus steady time (a store with a clock), or minus wall time (one in the process). */
  private offset: number;
  /** The node's two clocks when the store's time was last observed. */
  private observedAt: { wall: number; steady: number };

  constructor(clock: Clock, store: Pick<DataStore, 'now'>) {
    this.clock = clock;
    this.store = store;
    const storeHasClock = store.now !== undefined;
    this.storeHasClock = storeHasClock;
    // (Until the store's clock is read: the node's wall clock.)
    this.offset = storeHasClock ? clock.now() - steadyNow(clock) : 0;
    this.observedAt = { wall: clock.now(), steady: steadyNow(clock) };
  }

  /** The store's time, as far as this node knows it. */
  now(): number {
    return steadyNow(this.clock) + this.offsetMs();
  }

  /** The store's time minus this node's steady clock (`steadyNow`): what converts between the two. */
  offsetMs(): number {
    return this.storeHasClock ? this.offset : this.offset + this.clock.now() - steadyNow(this.clock);
  }

  /** Reads the clock of a store that has one of its own (`DataStore.now`), and learns from it. */
  async read(): Promise<void> {
    if (this.store.now === undefined) return;
    const sentAt = steadyNow(this.clock);
    const storeTime = await this.store.now();
    this.observe(storeTime.getTime(), sentAt);
  }

  /**
   * Learns from a store's answer that its clock read `storeTime` at some moment between `sentAt`
   * (`steadyNow` when the statement was sent) and now.
   */
  observe(storeTime: number, sentAt: number): void {
    const { clock } = this;
    this.observedAt = { wall: clock.now(), steady: steadyNow(clock) };
    if (!this.storeHasClock) {
      this.offset = storeTime - clock.now();
      return;
    }
    // The offset lies between these two. Moved only as far as needed to stay between them: an
    // answer that came late (a slow link, a busy event loop) allows a wide range and leaves a good
    // estimate alone, where taking it as read at its arrival would put the store's time behind by
    // the delay.
    const earliest = storeTime - steadyNow(clock);
    const latest = storeTime - sentAt;
    this.offset = Math.min(Math.max(this.offset, earliest), latest);
  }

  /**
   * For a store with a clock of its own: the node's wall and monotonic clocks parted since the
   * store's time was last observed. Either the wall clock was stepped (NTP), or the monotonic one
   * missed a suspend of the host or VM (it does not count the time asleep); which, the node cannot
   * tell, so the store's clock must be read again before times are made from the offset.
   */
  diverged(): boolean {
    if (!this.storeHasClock) return false;
    const wallElapsed = this.clock.now() - this.observedAt.wall;
    const steadyElapsed = steadyNow(this.clock) - this.observedAt.steady;
    return Math.abs(wallElapsed - steadyElapsed) > CLOCK_DIVERGENCE_MS;
  }
}
