import type { JobRecord } from '../stores/records.ts';
import { steadyNow, type TimerHandle } from '../time/clock.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Stops this node's jobs whose leases may have run out because it could not renew them in time
 * (the store unreachable, or too slow to answer). Once a lease lapses another node may take the
 * job over and run it again; stopped here first (`ctx.signal`, reason `lease_lost`), the two runs
 * do not overlap, as far as the task honours its signal. (What becomes of them: `JobRunner.expire`.)
 *
 * A lease is known to hold for the lease duration counted from when the statement that wrote it
 * (the claim, or the last renewal that went through) was sent: the store starts the lease later,
 * when the statement runs, so this count never outlasts the store's, however late the answer came.
 * Counted on the clock's monotonic reading (`steadyNow`), so that a step of the wall clock moves
 * nothing. One timer, at the earliest of those.
 */
export class LeaseFence {
  private readonly runtime: SchedulerRuntime;
  /** The jobs leased to this node that have not finished here. */
  private readonly jobs: () => JobRecord[];
  private readonly stopJob: (job: JobRecord) => void;
  private readonly leasedUntil = new WeakMap<JobRecord, number>();
  private timer: TimerHandle | null = null;
  /** When the timer is due (`steadyNow`). */
  private timerAt = Number.POSITIVE_INFINITY;
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

  /**
   * The store leased (or renewed the lease of) `jobs` in a statement sent at `sentAt`
   * (`steadyNow`). Returns those whose lease still holds: an answer that came after the lease
   * ran out (a slow store) hands this node jobs that another node, or its own takeover, may
   * already be running again; they must not start here (`StrayLeases` puts them back if not).
   */
  leased(jobs: readonly JobRecord[], sentAt: number): readonly JobRecord[] {
    const until = sentAt + this.runtime.options.leaseMs;
    for (const job of jobs) this.leasedUntil.set(job, until);
    if (until > steadyNow(this.runtime.clock)) return jobs;
    if (jobs.length > 0) {
      this.runtime.logger.warn(
        { jobIds: jobs.map((job) => job.id) },
        'the store answered only after the lease it wrote had run out: not starting those jobs (put back pending once the store answers, unless taken over first)',
      );
    }
    return [];
  }

  /** A job leased to this node came in (to run, be held or queued). */
  watch(job: JobRecord): void {
    const until = this.heldUntil(job);
    if (this.active && until < this.timerAt) this.arm(until);
  }

  /**
   * Stops the jobs whose leases may have lapsed, and plans the next look. In the order `jobs`
   * gives them (waiting ones before running ones), so that a slot one of them frees never starts
   * another that is being stopped.
   */
  check(): void {
    this.disarm();
    if (!this.active) return;
    const now = steadyNow(this.runtime.clock);
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
        'could not renew job leases before they ran out (store unreachable?): stopping those jobs here, for another node (or this one, once the store answers) to take over',
      );
      for (const job of lapsed) this.stopJob(job);
    }
    this.arm(next);
  }

  /**
   * Until when (`steadyNow`) this node knows it holds the job's lease. A job not seen leased (none
   * should be): the expiry the store wrote, by the node's estimate of store time.
   */
  private heldUntil(job: JobRecord): number {
    const until = this.leasedUntil.get(job);
    if (until !== undefined) return until;
    if (job.acquiredUntil === null) return Number.POSITIVE_INFINITY;
    return job.acquiredUntil.getTime() - this.runtime.storeClock.offsetMs();
  }

  private arm(at: number): void {
    this.disarm();
    if (at === Number.POSITIVE_INFINITY) return;
    this.timerAt = at;
    this.timer = this.runtime.clock.setTimer(
      () => {
        this.timer = null;
        this.check();
      },
      Math.max(1, at - steadyNow(this.runtime.clock)),
    );
  }

  private disarm(): void {
    if (this.timer !== null) this.runtime.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
