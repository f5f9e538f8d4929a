import { hostname } from 'node:os';
import type { TimerHandle } from '../time/clock.ts';
import type { JobRunner } from './job-runner.ts';
import type { LeaseFence } from './lease-fence.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

const PRUNE_EVERY_MS = 3_600_000;
/** Executions a prune deletes per store call; between two, a stop may end it. */
const PRUNE_SLICE = 10_000;

/**
 * The scheduler's housekeeping, every half lease: renew the leases of running jobs (and learn of
 * cancellations and lost leases), heartbeat, take over jobs of dead nodes, prune old history.
 */
export class Maintenance {
  private readonly runtime: SchedulerRuntime;
  private readonly runner: JobRunner;
  private readonly fence: LeaseFence;
  /** When this node (last) started, in store time, as the nodes table shows it next to `lastSeen`. */
  private startedAt = new Date(0);
  private timer: TimerHandle | null = null;
  private running = false;
  private tickInProgress: Promise<void> = Promise.resolve();
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  /** The prune under way, off the tick: a long one must not hold back lease renewals. */
  private pruning: Promise<void> | null = null;

  constructor(runtime: SchedulerRuntime, runner: JobRunner, fence: LeaseFence) {
    this.runtime = runtime;
    this.runner = runner;
    this.fence = fence;
  }

  async start(): Promise<void> {
    this.startedAt = new Date(this.runtime.storeNow());
    this.running = true;
    this.fence.start();
    await this.tick();
    this.arm();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) this.runtime.clock.clearTimer(this.timer);
    this.timer = null;
    await this.tickInProgress;
    await this.pruning; // ends after its current slice
    this.fence.stop();
  }

  /** Renews leases now (also called on shutdown while waiting for running jobs). */
  async tick(): Promise<void> {
    const tick = this.runtime.activity.track(() => this.work());
    this.tickInProgress = tick;
    await tick;
  }

  /** Renews the leases of running jobs and learns of cancellations and lost leases. */
  async renewLeases(): Promise<void> {
    const { store, node, options } = this.runtime;
    const jobs = this.runner.leasedJobs();
    if (jobs.length === 0) return;
    const sentAt = this.runtime.clock.now();
    const status = await store.extendLeases(
      node,
      options.leaseMs,
      jobs.map((job) => ({ id: job.id, attempt: job.attempt })),
    );
    const lost = new Set(status.lost);
    for (const job of jobs) if (!lost.has(job.id)) this.fence.renewed(job, sentAt);
    this.fence.check();
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

  private arm(): void {
    if (!this.running) return;
    this.timer = this.runtime.clock.setTimer(
      () => {
        this.timer = null;
        void this.tick().finally(() => this.arm());
      },
      Math.max(1, Math.floor(this.runtime.options.leaseMs / 2)),
    );
  }

  private async work(): Promise<void> {
    const { store, node, options, clock } = this.runtime;
    await this.step('renew leases', () => this.renewLeases());
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
    if (options.retentionMs !== null && this.pruning === null && clock.now() - this.lastPruneAt >= PRUNE_EVERY_MS) {
      this.lastPruneAt = clock.now();
      const olderThan = new Date(clock.now() - options.retentionMs);
      // Not awaited: the first prune of a long history (or one after a long downtime) may take
      // minutes, and the next renewal of this node's leases must not wait for it.
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

  private async step(operation: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.runtime.reportError(operation, error);
    }
  }
}
