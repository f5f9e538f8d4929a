import { hostname } from 'node:os';
import { steadyNow } from '../time/clock.ts';
import type { JobRunner } from './job-runner.ts';
import type { LeaseFence } from './lease-fence.ts';
import { PeriodicWork } from './periodic-work.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import type { StrayLeases } from './stray-leases.ts';

const PRUNE_EVERY_MS = 3_600_000;
/** Executions a prune deletes per store call; between two, a stop may end it. */
const PRUNE_SLICE = 10_000;

/** How often a node looks whether its clocks parted (a suspend, an NTP step). */
const CLOCK_WATCH_MS = 1000;

/**
 * The scheduler's housekeeping, every half lease: renew the leases of running jobs (and learn of
 * cancellations and lost leases); and, on a cycle of its own so that a slow step never delays a
 * renewal, heartbeat, take over jobs of dead nodes, prune old history.
 */
export class Maintenance {
  private readonly runtime: SchedulerRuntime;
  private readonly runner: JobRunner;
  private readonly fence: LeaseFence;
  private readonly strays: StrayLeases;
  /** When this node (last) started, in store time, as the nodes table shows it next to `lastSeen`. */
  private startedAt = new Date(0);
  private readonly renewals: PeriodicWork;
  private readonly housekeeping: PeriodicWork;
  /** Looks every second whether the node's clocks parted (see `watchClocks`); null: they cannot. */
  private readonly clockWatch: PeriodicWork | null;
  private readonly onClocksParted: () => void;
  private running = false;
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  /** The prune under way, beside the housekeeping cycle: a long one must not hold it back. */
  private pruning: Promise<unknown> | null = null;

  /** `onClocksParted`: the node's clocks parted, and the store's was read again (see `watchClocks`). */
  constructor(
    runtime: SchedulerRuntime,
    runner: JobRunner,
    fence: LeaseFence,
    strays: StrayLeases,
    onClocksParted: () => void,
  ) {
    this.runtime = runtime;
    this.onClocksParted = onClocksParted;
    this.runner = runner;
    this.fence = fence;
    this.strays = strays;
    const { clock, activity, options } = runtime;
    const halfLease = Math.max(1, Math.floor(options.leaseMs / 2));
    // A renewal that failed is tried again soon (a tenth of the lease), not half a lease later,
    // when the lease would already have run out.
    const renewal = { periodMs: halfLease, retryMs: Math.max(1, Math.floor(options.leaseMs / 10)) };
    this.renewals = new PeriodicWork(clock, activity, renewal, () =>
      this.step('renew leases', () => this.renewLeases()),
    );
    this.housekeeping = new PeriodicWork(clock, activity, { periodMs: halfLease }, async () => {
      await this.keepHouse();
      return true;
    });
    // Only a store with a clock of its own is estimated, and only a clock with a monotonic reading
    // besides the wall one can part from it.
    const canPart = runtime.store.now !== undefined && clock.monotonicNow !== undefined;
    this.clockWatch = canPart
      ? new PeriodicWork(clock, activity, { periodMs: CLOCK_WATCH_MS }, () =>
          this.step('read the store clock', () => this.watchClocks()),
        )
      : null;
  }

  /**
   * The node's clocks parted (`StoreClock.diverged`): after a suspend of the host or VM (which the
   * monotonic clock does not count) its leases may have run out meanwhile and other nodes taken
   * its jobs over. It renews at once, so the fence stops those jobs now rather than at the next
   * renewal (up to half a lease later), and reads the store's clock again for the times it makes.
   */
  private async watchClocks(): Promise<void> {
    const { storeClock } = this.runtime;
    if (!storeClock.diverged()) return;
    this.renewals.runNow();
    await storeClock.read();
    this.onClocksParted();
  }

  async start(): Promise<void> {
    this.startedAt = new Date(this.runtime.storeNow());
    this.running = true;
    this.fence.start();
    await Promise.all([this.renewals.start(), this.housekeeping.start(), this.clockWatch?.start()]);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([this.renewals.stop(), this.housekeeping.stop(), this.clockWatch?.stop()]);
    await this.pruning; // ends after its current slice
    this.fence.stop();
  }

  /** Renews the leases of running jobs and learns of cancellations and lost leases. */
  async renewLeases(): Promise<void> {
    const { store, node, options } = this.runtime;
    const jobs = this.runner.leasedJobs();
    if (jobs.length === 0) return;
    const sentAt = steadyNow(this.runtime.clock);
    const status = await store.extendLeases(
      node,
      options.leaseMs,
      jobs.map((job) => ({ id: job.id, attempt: job.attempt })),
    );
    const lost = new Set(status.lost);
    this.fence.leased(
      jobs.filter((job) => !lost.has(job.id)),
      sentAt,
    );
    this.fence.check();
    this.strays.storeAnswered();
    const asked = new Map(jobs.map((job) => [job.id, job]));
    for (const id of status.lost) {
      // Not if this node handed the job back and claimed it again meanwhile: that is a new lease.
      const job = asked.get(id);
      if (job !== undefined && this.runner.stillHolds(job)) {
        this.runner.interrupt(id, 'lease_lost', 'the job lease was lost to another node');
      }
    }
    for (const id of status.cancelRequested) this.runner.interrupt(id, 'cancelled', 'cancelled on request');
  }

  /**
   * Looks (reading only) whether someone asked to cancel a job running here. Called when another
   * process changed the store, so a cancel from another node arrives within moments; a write here
   * would itself wake every other process, and they would answer in kind.
   */
  async checkCancellations(): Promise<void> {
    const leases = this.runner.runningLeases();
    if (leases.length === 0) return;
    const { items } = await this.runtime.store.getJobs({
      ids: leases.map((lease) => lease.id),
      limit: Math.min(1000, leases.length),
    });
    for (const job of items) {
      if (job.cancelRequested && job.acquiredBy === this.runtime.node) {
        this.runner.interrupt(job.id, 'cancelled', 'cancelled on request');
      }
    }
  }

  private async keepHouse(): Promise<void> {
    const { store, node, options, clock } = this.runtime;
    await this.step('heartbeat', () =>
      store.heartbeat({
        id: node,
        host: hostname(),
        pid: process.pid,
        startedAt: this.startedAt,
        lastSeen: new Date(clock.now()),
        runningJobs: this.runner.runningCount,
      }),
    );
    await this.step('reap abandoned jobs', async () => {
      await store.reapAbandoned();
    });
    const pruneDue = steadyNow(clock) - this.lastPruneAt >= PRUNE_EVERY_MS;
    if (options.retentionMs !== null && this.running && this.pruning === null && pruneDue) {
      this.lastPruneAt = steadyNow(clock);
      // History is written on the store's clock (see JobRunner), and judged on it.
      const olderThan = new Date(this.runtime.storeNow() - options.retentionMs);
      // Not awaited: the first prune of a long history (or one after a long downtime) may take
      // minutes, and the heartbeat and the takeover of dead nodes' jobs must not wait for it.
      this.pruning = this.runtime.activity
        .track(() =>
          this.step('prune executions', async () => {
            while (this.running && (await store.pruneExecutions(olderThan, PRUNE_SLICE)) === PRUNE_SLICE) {
              // one slice at a time, until none is left or the scheduler stops
            }
          }),
        )
        .finally(() => {
          this.pruning = null;
        });
    }
  }

  /** Runs `work`, reporting its failure; false if it failed. */
  private async step(operation: string, work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      this.runtime.reportError(operation, error);
      return false;
    }
  }
}
