import { jobAddedEvent } from '../events/event-types.ts';
import type { LeaseRef } from '../stores/data-store.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Finds jobs leased to this node that it does not know of, and hands them back.
 *
 * A claim (or a fire that starts its jobs here) may go through in the store while its answer never
 * reaches the node: the connection broke after the commit, or the store answered only after the
 * lease it wrote had run out. Those jobs are leased to this node, which never started them: left
 * alone, they would wait for their lease to run out and then be recorded `abandoned`, spending an
 * abandonment retry (or, with none, ending unrun).
 *
 * After such a failure, once the store answers again (a lease write, a renewal or a look for due
 * schedules went through) and no lease write is in flight, the node asks the store to hand back
 * every job leased to it but not among those it holds. Lease writes wait while that runs: a claim
 * that committed meanwhile, its answer not yet taken in, would look stray too.
 */
export class StrayLeases {
  private readonly runtime: SchedulerRuntime;
  /** The attempts a look must leave alone (`JobRunner.strayFence`). */
  private readonly held: () => LeaseRef[];
  private readonly onHandedBack: () => void;
  /** Lease writes under way, from sending the statement until the node took in its jobs. */
  private writes = 0;
  /** A lease write failed (or came too late) since the last look: the store may hold strays. */
  private unsure = false;
  /** The look under way, if any. */
  private looking: Promise<void> | null = null;
  /**
   * When (store time) this node last started: jobs leased to its id before then were leased by a
   * process before it (with the same node id) or by its own run before a stop, and may have run.
   */
  private claimedSince = new Date(0);

  /** `onHandedBack`: jobs went back to pending (this node's job loop may claim them again). */
  constructor(runtime: SchedulerRuntime, held: () => LeaseRef[], onHandedBack: () => void) {
    this.runtime = runtime;
    this.held = held;
    this.onHandedBack = onHandedBack;
  }

  /**
   * Runs `write`, a lease write together with taking its jobs in (they are among `held` once it
   * resolves). A failure leaves the node unsure of what the store leased to it.
   */
  async write<T>(write: () => Promise<T>): Promise<T> {
    while (this.looking !== null) await this.looking;
    this.writes++;
    let wentThrough = false;
    try {
      const result = await write();
      wentThrough = true;
      return result;
    } catch (error) {
      this.mayHoldStrays();
      throw error;
    } finally {
      this.writes--;
      if (wentThrough) this.storeAnswered();
    }
  }

  /**
   * The store may hold jobs leased to this node that it did not take in: a lease write's answer
   * came after its lease had run out, or a part of it failed (`AcquiredJobs.incomplete`).
   */
  mayHoldStrays(): void {
    // A store in the process did nothing when its statement failed: no answer is lost on the way.
    // Looking there would only put at risk the jobs of another live process with this node id.
    if (this.runtime.store.answersCanBeLost === true) this.unsure = true;
  }

  /** The node starts: only jobs leased from now on are its own strays (see `claimedSince`). */
  open(): void {
    this.claimedSince = new Date(this.runtime.storeNow());
    this.unsure = false;
  }

  /** Resolves once no look is under way (the store may close then). */
  async idle(): Promise<void> {
    await this.looking;
  }

  /** The store answered a statement: if a failure left the node unsure, look for strays now. */
  storeAnswered(): void {
    if (!this.unsure || this.writes > 0 || this.looking !== null) return;
    this.looking = this.runtime.activity
      .track(() => this.look())
      .finally(() => {
        this.looking = null;
      });
  }

  private async look(): Promise<void> {
    const { store, node, logger, events, clock } = this.runtime;
    try {
      // Strays were leased just now; a run stopped for want of a renewal has little lease left.
      const strays = await store.handBackStrayJobs(
        node,
        this.held(),
        this.runtime.options.leaseMs / 2,
        this.claimedSince,
      );
      this.unsure = false;
      if (strays.length === 0) return;
      logger.warn(
        { jobIds: strays.map((job) => job.id) },
        'handed back jobs leased to this node by a claim whose answer it never got: pending again, for any node',
      );
      const now = new Date(clock.now());
      for (const job of strays) events.publish(jobAddedEvent(job, now));
      this.onHandedBack();
    } catch (error) {
      // Still unsure: the next lease write that goes through looks again.
      this.runtime.reportError('hand back jobs leased by a lost claim', error);
    }
  }
}
