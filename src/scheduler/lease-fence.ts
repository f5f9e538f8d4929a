import type { JobRecord } from '../stores/records.ts';
import type { TimerHandle } from '../time/clock.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Stops this node's jobs whose leases may have run out because it could not renew them in time
 * (the store unreachable, or too slow to answer). Once a lease lapses another node may take the
 * job over and run it again; stopped here first (`ctx.signal`, reason `lease_lost`), the two runs
 * do not overlap, as far as the task honours its signal.
 *
 * A lease is known to hold until its last confirmed renewal plus the lease duration, counted from
 * when the renewal was sent (the store starts the new lease later, when the statement runs); one
 * never renewed, until the expiry its claim wrote, in store time. One timer, at the earliest of
 * those: a job that comes in later was leased later.
 */
export class LeaseFence {
  private readonly runtime: SchedulerRuntime;
  /** The jobs leased to this node that have not finished here. */
  private readonly jobs: () => JobRecord[];
  private readonly stopJob: (job: JobRecord) => void;
  private readonly renewedUntil = new WeakMap<JobRecord, number>();
  private timer: TimerHandle | null = null;
  private active = false;

  constructor(runtime: SchedulerRuntime, jobs: () => JobRecord[], stopJob: (job: JobRecord) => void) {
    this.runtime = runtime;
    this.jobs = jobs;
    this.stopJob = stopJob;
  }

  start(): void {
    this.active = true;
    this.check();
  }

  stop(): void {
    this.active = false;
    this.disarm();
  }

  /** A job was leased to this node (claimed, or fired to run here). */
  watch(job: JobRecord): void {
    if (this.active && this.timer === null) this.arm(this.heldUntil(job));
  }

  /** The store confirmed the renewal of `job`'s lease, sent at `sentAt` (this node's clock). */
  renewed(job: JobRecord, sentAt: number): void {
    this.renewedUntil.set(job, sentAt + this.runtime.options.leaseMs);
  }

  /** Stops the jobs whose leases may have lapsed, and plans the next look. */
  check(): void {
    this.disarm();
    if (!this.active) return;
    const now = this.runtime.clock.now();
    let next = Number.POSITIVE_INFINITY;
    const lapsed: JobRecord[] = [];
    for (const job of this.jobs()) {
      const until = this.heldUntil(job);
      if (until <= now) lapsed.push(job);
      else next = Math.min(next, until);
    }
    if (lapsed.length > 0) {
      this.runtime.logger.warn(
        { jobIds: lapsed.map((job) => job.id) },
        'could not renew job leases before they ran out (store unreachable?): stopping those jobs here; another node takes them over',
      );
      for (const job of lapsed) this.stopJob(job);
    }
    this.arm(next);
  }

  /** Until when (this node's clock) this node knows it holds the job's lease. */
  private heldUntil(job: JobRecord): number {
    const renewed = this.renewedUntil.get(job);
    if (renewed !== undefined) return renewed;
    if (job.acquiredUntil === null) return Number.POSITIVE_INFINITY;
    return job.acquiredUntil.getTime() - this.runtime.skewMs;
  }

  private arm(at: number): void {
    if (at === Number.POSITIVE_INFINITY) return;
    this.timer = this.runtime.clock.setTimer(
      () => {
        this.timer = null;
        this.check();
      },
      Math.max(1, at - this.runtime.clock.now()),
    );
  }

  private disarm(): void {
    if (this.timer !== null) this.runtime.clock.clearTimer(this.timer);
    this.timer = null;
  }
}
