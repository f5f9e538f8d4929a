import type { AcquiredJobs } from '../stores/data-store.ts';
import { steadyNow, type TimerHandle } from '../time/clock.ts';
import type { JobRecord } from '../stores/records.ts';
import type { JobRunner } from './job-runner.ts';
import type { LeaseFence } from './lease-fence.ts';
import { isCapped } from './local-job-queue.ts';
import type { PassResult } from './processing-loop.ts';
import { QueueWaitLimit } from './queue-wait-limit.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import { ShortClaimRecheck } from './short-claim-recheck.ts';
import type { StrayLeases } from './stray-leases.ts';

/**
 * The job loop's pass: lease as many due jobs as this node has free slots for (the store honours
 * max instances and task caps), and hand each to the runner. Jobs past their start deadline are
 * recorded `missed` instead of run.
 *
 * With `prefetchJobs`, a pass also claims up to that many due jobs beyond the free slots; they wait
 * in the runner's local queue and start, first claimed first, as slots free up. The next claim then
 * travels while jobs run instead of after them. The queue is refilled once it has room for half a
 * batch, so a finishing job does not cost a claim of one. Jobs that wait there `prefetchMaxWait`
 * are handed back to the cluster (see `QueueWaitLimit`).
 */
export class JobProcessor {
  private readonly runtime: SchedulerRuntime;
  private readonly runner: JobRunner;
  private readonly fence: LeaseFence;
  private readonly strays: StrayLeases;
  /** The earliest lease expiry of a running job, in store time: reap then, not a poll later. */
  private leaseExpiry: number | null = null;
  /** Slots promised to an acquire (or a fire) in flight, so two of them never overfill the node. */
  private reserved = 0;
  /**
   * The claim in flight that holds free slots, if any: settles once its jobs took their slots and
   * it gave back the rest. (A claim only for the local queue holds none: nothing to wait for.)
   */
  private claiming: Promise<void> | null = null;
  /** The last pass found no free slot. */
  private starved = false;
  /**
   * The last claim took every due job this node could run: it got fewer than the slots it had
   * (a store hands out all it can). A freed slot alone then gives a pass nothing to claim, so it
   * does not wake the loop; new work wakes it on its own (a job added, a retry, a cap freed), and
   * `recheck` looks once more a moment later in case the claim was cut short.
   */
  private tookAllDue = false;
  private readonly recheck: ShortClaimRecheck;
  private readonly queueWait: QueueWaitLimit;
  /**
   * Queued jobs were handed back for waiting too long: this node's slots stay taken, so it claims
   * none for its queue (it would only take them from idle nodes again) until a slot frees.
   */
  private queueResting = false;
  /** The scheduler is stopping: queued jobs wait to be handed back instead of taking freed slots. */
  private draining = false;
  private readonly wake: () => void;
  private readonly onHeldBack: (tasks: readonly string[]) => boolean;

  /**
   * `onHeldBack`: a claim says which tasks have due jobs held back by a schedule's `maxInstances`;
   * true if the node now waits for a task it did not wait for before.
   */
  constructor(
    runtime: SchedulerRuntime,
    runner: JobRunner,
    fence: LeaseFence,
    strays: StrayLeases,
    wake: () => void,
    onHeldBack: (tasks: readonly string[]) => boolean = () => false,
  ) {
    this.runtime = runtime;
    this.runner = runner;
    this.fence = fence;
    this.strays = strays;
    this.wake = wake;
    this.onHeldBack = onHeldBack;
    this.recheck = new ShortClaimRecheck(runtime.clock, wake);
    this.queueWait = new QueueWaitLimit(runtime.clock, runtime.options.prefetchMaxWaitMs, runner, (count) => {
      this.queueResting = true;
      this.tookAllDue = false; // the store holds due jobs again that no claim of this node saw
      runtime.logger.debug({ jobs: count }, 'handed back queued jobs that waited prefetchMaxWait for a slot');
    });
  }

  async pass(): Promise<PassResult> {
    const { runtime } = this;
    const { store, options, tasks } = runtime;
    if (this.draining) return null; // stopping: no new claims
    if (this.leaseExpiry !== null && runtime.storeNow() >= this.leaseExpiry) {
      this.leaseExpiry = null;
      await store.reapAbandoned();
    }
    this.fillSlots(); // queued jobs first: they were claimed before anything this pass could claim
    const queueRoom = this.queueRoom();
    if (this.full()) {
      this.starved = true;
      this.tookAllDue = false; // not looked: a freed slot must bring a pass
      return null; // a finishing job, or slots a fire did not use, wake the loop
    }
    this.starved = false;
    const names = tasks.names();
    if (names.length === 0) return null;
    const slots = this.reserve(options.batchSize);
    const extra = Math.min(options.batchSize - slots, queueRoom);
    const limit = slots + extra;
    this.recheck.claimed();
    let claimSettled = () => {};
    if (slots > 0) this.claiming = new Promise((resolve) => (claimSettled = resolve));
    let claimed: AcquiredJobs;
    try {
      claimed = await this.strays.write(() => this.claim(limit, slots));
    } finally {
      // After the jobs took their slots, so no one else gets them meanwhile; slots that freed up
      // while the claim travelled go to the queue.
      try {
        this.unreserve(slots);
      } finally {
        if (slots > 0) this.claiming = null;
        claimSettled();
      }
    }
    const { now, jobs } = claimed;
    let next = claimed.next;
    // Again at once if the claim was full, or if it may have left due jobs (it stopped at one that
    // must start at once, `startNow`) while a slot is free: a claimed job that did not take its
    // slot (missed, cancelled) or a slot freed meanwhile would otherwise wait for a wake.
    if (jobs.length === limit || (!this.tookAllDue && this.freeSlots() > 0)) return 'again';
    // A claim that got some jobs, but fewer than there was room for, may have been cut short.
    if (jobs.length > 0 && this.freeSlots() > 0) this.recheck.schedule();
    next ??= await store.nextJobTimes(tasks.limits(), now);
    this.leaseExpiry = next.leaseExpiry?.getTime() ?? null;
    const wakeAt = Math.min(
      next.runAt?.getTime() ?? Number.POSITIVE_INFINITY,
      this.leaseExpiry ?? Number.POSITIVE_INFINITY,
    );
    return wakeAt === Number.POSITIVE_INFINITY ? null : wakeAt - now.getTime();
  }

  /** Claims up to `limit` due jobs, and starts (the first `slots`), holds or queues them. */
  private async claim(limit: number, slots: number): Promise<AcquiredJobs> {
    const { runtime } = this;
    const { store, node, options, tasks, clock } = runtime;
    const sentAt = steadyNow(clock);
    const claimed = await store.acquireJobs(node, {
      leaseMs: options.leaseMs,
      limit,
      startNow: slots,
      tasks: tasks.limits(),
    });
    const { now, jobs, heldBackTasks } = claimed;
    runtime.storeClock.observe(now.getTime(), sentAt);
    // The run holding the place may end before the other nodes hear that this one listens.
    if (heldBackTasks !== undefined && this.onHeldBack(heldBackTasks)) this.recheck.schedule();
    const held = this.fence.leased(jobs, sentAt);
    if (held.length < jobs.length || claimed.incomplete) this.strays.mayHoldStrays();
    // (Jobs claimed only to queue may stop short at one that must start at once: that says nothing.)
    this.tookAllDue = jobs.length < slots;
    // Jobs that must not wait take the slots first (the store claimed no more of them than there
    // are slots: should this node die, a queued job is taken over as abandoned), then capped
    // jobs (queued, one would hold its caps while it waits).
    const byTurn: [JobRecord[], JobRecord[], JobRecord[]] = [[], [], []];
    for (const job of held) byTurn[job.abandonRetries === 0 ? 0 : isCapped(job, runtime) ? 1 : 2].push(job);
    const ordered = byTurn.flat();
    this.startLeased(ordered.slice(0, slots), now);
    for (const job of ordered.slice(slots)) {
      // Claimed to wait as one that may run again, its budget just lowered to none (the node that
      // made it did not know the task's options): should this node die, it would be taken over
      // as abandoned, unrun. Back to the store, where it now waits for a node with a free slot.
      if (job.abandonRetries === 0) this.runner.handBackNow(job);
      else this.runner.enqueue(job);
    }
    // The queue was handed back while this claim travelled, and the claim may have taken those
    // jobs again: they go back at once; so do they if the node began stopping meanwhile (a stop
    // does not wait long for a claim that the store is slow to answer).
    if (this.queueResting || this.draining) this.runner.handBackQueued();
    else this.queueWait.watch();
    return claimed;
  }

  /** The scheduler starts (again): queued jobs take freed slots. */
  open(): void {
    this.draining = false;
    this.queueResting = false;
  }

  /** The scheduler is stopping: freed slots no longer start queued jobs (they are handed back). */
  drain(): void {
    this.draining = true;
    this.recheck.cancel();
    this.queueWait.cancel();
  }

  /**
   * A slot was freed: the local queue's first job takes it, and the loop looks for more work if a
   * pass could claim some: the last claim may have left due jobs, and there is room now.
   */
  slotFreed(): void {
    this.queueResting = false;
    this.fillSlots();
    if (this.full()) return;
    if (this.tookAllDue) this.recheck.schedule();
    else this.wake();
  }

  /**
   * A capped job's run was recorded: jobs held back by its cap may be claimed now. Always wakes the
   * loop, even with every slot reserved: a claim in flight read the store before this record, so
   * the pass after it must look again.
   */
  capFreed(): void {
    this.tookAllDue = false;
    this.fillSlots();
    this.wake();
  }

  /** No free slot, and too little queue room for a refill: a pass would claim nothing. */
  private full(): boolean {
    return this.freeSlots() <= 0 && this.queueRoom() < this.refillAt();
  }

  /** Starts queued jobs while slots are free. */
  private fillSlots(): void {
    while (!this.draining && this.runner.queuedCount > 0 && this.freeSlots() > 0) {
      const job = this.runner.takeQueued();
      if (job !== undefined) this.dispatch(job, new Date(this.runtime.storeNow()));
    }
  }

  /** Room left in the local queue. */
  private queueRoom(): number {
    if (this.queueResting) return 0;
    return Math.max(0, this.runtime.options.prefetchJobs - this.runner.queuedCount);
  }

  /** The queue room worth a claim: half a batch (or of the queue, if smaller). */
  private refillAt(): number {
    return Math.max(1, Math.ceil(Math.min(this.runtime.options.batchSize, this.runtime.options.prefetchJobs) / 2));
  }

  /** Slots neither running a job nor promised to an acquire in flight. */
  freeSlots(): number {
    return this.runtime.options.maxConcurrentJobs - this.runner.runningCount - this.reserved;
  }

  /**
   * Resolves once the claim now in flight, if any, has started its jobs and given back the slots it
   * did not use, or after `maxWaitMs`, whichever comes first. A claim reserves every free slot while
   * it travels, although it often finds nothing: a fire that wants slots waits for it (see
   * `ScheduleProcessor`) rather than send its jobs through the store to be claimed again.
   */
  async claimSettled(maxWaitMs: number): Promise<void> {
    const claiming = this.claiming;
    if (claiming === null) return;
    const { clock } = this.runtime;
    let timer: TimerHandle | undefined;
    const waited = new Promise<void>((resolve) => (timer = clock.setTimer(resolve, maxWaitMs)));
    try {
      await Promise.race([claiming, waited]);
    } finally {
      if (timer !== undefined) clock.clearTimer(timer);
    }
  }

  /** The scheduler is stopping: jobs fired now are left in the store for other nodes. */
  get stopping(): boolean {
    return this.draining;
  }

  /** Promises up to `wanted` free slots to an acquire; give them back with `unreserve` once its jobs started. */
  reserve(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.freeSlots()));
    this.reserved += granted;
    return granted;
  }

  /** Gives back reserved slots; a pass that found none free is woken to use them. */
  unreserve(count: number): void {
    this.reserved -= count;
    this.fillSlots();
    if (this.starved && count > 0) {
      this.starved = false;
      this.wake();
    }
  }

  /** Starts jobs leased to this node (by an acquire, or as they were fired here); one fired ahead waits for its run time. */
  startLeased(jobs: readonly JobRecord[], now: Date): void {
    for (const job of jobs) {
      // From the store's time now, not `now` (the acquire's): the write since took a while.
      const wait = job.runAt.getTime() - this.runtime.storeNow();
      // (A job fired ahead while the node began stopping is not held: see `dispatch`.)
      if (wait > 0 && !this.draining) this.runner.hold(job, wait, (due) => this.startHeld(due));
      // Its start deadline is judged at the start, which the answer's way here may have delayed.
      else this.dispatch(job, new Date(Math.max(now.getTime(), this.runtime.storeNow())));
    }
  }

  /** A held job's run time came: it starts, unless the scheduler is stopping (then it is handed back with the queued ones). */
  private startHeld(job: JobRecord): void {
    if (this.draining) this.runner.enqueue(job);
    else this.dispatch(job, new Date(this.runtime.storeNow()));
  }

  private dispatch(job: JobRecord, now: Date): void {
    // A cancel asked for is what the user wanted to happen, whether or not the job was also late.
    if (job.cancelRequested) {
      this.runner.recordNotRun(job, 'cancelled', {
        name: 'JobCancelled',
        message: 'cancelled before it started',
        stack: null,
      });
    } else if (job.startDeadline !== null && now.getTime() > job.startDeadline.getTime()) {
      this.runner.recordNotRun(job, 'missed', {
        name: 'MisfireGraceTimeExceeded',
        message: `not started by its start deadline ${job.startDeadline.toISOString()}`,
        stack: null,
      });
    } else if (this.draining) {
      // The scheduler began stopping while the claim or fire travelled: nothing new starts here
      // (a stop waits for what runs); the job goes back to the store for the other nodes.
      this.runner.handBackNow(job);
    } else {
      this.runner.start(job);
    }
  }
}
