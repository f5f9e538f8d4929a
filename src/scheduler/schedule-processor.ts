import { uuidv7 } from '../common/uuid.ts';
import type { ScheduleRelease } from '../stores/data-store.ts';
import { steadyNow } from '../time/clock.ts';
import type { ExecutionRecord, JobRecord, ScheduleRecord } from '../stores/records.ts';
import { type FirePlan, planFires } from './fire-planner.ts';
import { newJobRecord } from './job-input.ts';
import type { JobProcessor } from './job-processor.ts';
import type { LeaseFence } from './lease-fence.ts';
import type { PassResult } from './processing-loop.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';
import type { StrayLeases } from './stray-leases.ts';

/** How long a fire waits at most for a claim in flight to give back free slots (a round trip or two). */
const CLAIM_WAIT_MS = 50;

/**
 * The schedule loop's pass (DESIGN §6): lease due schedules, decide their fires (coalesce,
 * misfire, jitter), then insert the jobs and move the schedules on in one store transaction.
 */
export class ScheduleProcessor {
  private readonly runtime: SchedulerRuntime;
  private readonly jobs: JobProcessor;
  private readonly fence: LeaseFence;
  private readonly strays: StrayLeases;

  constructor(runtime: SchedulerRuntime, jobs: JobProcessor, fence: LeaseFence, strays: StrayLeases) {
    this.runtime = runtime;
    this.jobs = jobs;
    this.fence = fence;
    this.strays = strays;
  }

  async pass(): Promise<PassResult> {
    const { store, node, options } = this.runtime;
    const ahead = options.fireAheadMs;
    const sentAt = steadyNow(this.runtime.clock);
    const { now, schedules } = await store.acquireSchedules(node, options.leaseMs, options.batchSize, ahead);
    this.runtime.storeClock.observe(now.getTime(), sentAt);
    this.strays.storeAnswered();
    if (schedules.length > 0) {
      const releases = schedules.map((schedule) => this.release(schedule, now.getTime()));
      await this.fire(releases, now);
      if (schedules.length === options.batchSize) return 'again';
    }
    const next = await store.nextScheduleFireTime();
    if (next === null) return null;
    const untilDue = next.getTime() - now.getTime();
    // Wake `fireAhead` early to fire ahead. A pass that fired nothing although a schedule is due
    // within that window found it busy (a job pending or running): it is fired at its time.
    return schedules.length === 0 && untilDue <= ahead ? untilDue : untilDue - ahead;
  }

  /**
   * Writes the fires. The jobs this node can run at once (its task, no task cap, a free slot) are
   * leased to it in the same transaction and started here: a fire then costs no acquire round
   * trip, and no other node is woken for it.
   */
  private async fire(releases: ScheduleRelease[], now: Date): Promise<void> {
    const { store, node, options, tasks } = this.runtime;
    const startable: string[] = [];
    for (const release of releases) {
      const job = release.jobs[0];
      if (job === undefined || job.runAt.getTime() > now.getTime() + options.fireAheadMs) continue;
      // A job fired ahead waits here for its run time; should this node die meanwhile, it is taken
      // over as abandoned. One that must not run twice (no abandonment retry) waits in the store.
      if (job.abandonRetries === 0 && job.runAt.getTime() > now.getTime()) continue;
      const task = tasks.get(job.task);
      if (task !== undefined && task.maxRunningJobs === null) startable.push(job.id);
    }
    // A claim of the job loop in flight holds the free slots, and usually finds nothing. Without the
    // wait, a burst of fires would go through the store and be claimed again, one round trip and a
    // capped claim each, by whichever node comes first.
    if (startable.length > this.jobs.freeSlots()) await this.jobs.claimSettled(CLAIM_WAIT_MS);
    // A node stopping meanwhile (the wait, the acquire) starts nothing more.
    const slots = this.jobs.stopping ? 0 : this.jobs.reserve(startable.length);
    const jobIds = new Set(startable.slice(0, slots));
    const write = async () => {
      const sentAt = steadyNow(this.runtime.clock);
      const released = await store.releaseSchedules(
        node,
        releases,
        jobIds.size > 0 ? { leaseMs: options.leaseMs, jobIds } : undefined,
      );
      const held = this.fence.leased(released.started, sentAt);
      if (held.length < released.started.length) this.strays.mayHoldStrays();
      // before the slots are given back, so they stay taken
      this.jobs.startLeased(held, now);
    };
    try {
      // Only a fire that leases jobs to this node can leave strays.
      await (jobIds.size > 0 ? this.strays.write(write) : write());
    } finally {
      this.jobs.unreserve(slots);
    }
  }

  private release(schedule: ScheduleRecord, now: number): ScheduleRelease {
    const base = { scheduleId: schedule.id, revision: schedule.revision };
    if (schedule.brokenReason !== null) return this.broken(schedule, schedule.brokenReason);
    let plan: FirePlan;
    try {
      const trigger = this.runtime.triggers.get(schedule.trigger);
      let first = (schedule.nextFireTime as Date).getTime();
      // A fire time already fired is never fired again: a trigger set anew (or a node whose clock
      // is behind) may re-arm one, e.g. right after the schedule was fired ahead.
      const last = schedule.lastFireTime?.getTime() ?? null;
      if (last !== null && first <= last) {
        const after = trigger.next(new Date(last))?.getTime() ?? null;
        if (after === null) {
          // It ends with no record of its own (it may be a fire time that did fire): said here.
          this.runtime.logger.warn(
            { scheduleId: schedule.id, fireTime: new Date(first), lastFireTime: schedule.lastFireTime },
            'schedule finished without firing again: its trigger has no fire time after the last one fired (a trigger changed to one that fires only earlier?)',
          );
        }
        if (after === null || after > now + this.runtime.options.fireAheadMs) {
          return {
            ...base,
            nextFireTime: after === null ? null : new Date(after),
            lastFireTime: schedule.lastFireTime,
            jobs: [],
            missed: [],
          };
        }
        first = after;
      }
      // A schedule fired ahead is planned as at its fire time: nothing is late.
      plan = planFires(trigger, first, Math.max(now, first), schedule);
    } catch (error) {
      return this.broken(schedule, `trigger cannot be used: ${error instanceof Error ? error.message : String(error)}`);
    }
    return {
      ...base,
      nextFireTime: plan.nextFireTime === null ? null : new Date(plan.nextFireTime),
      lastFireTime: plan.lastFireTime === null ? schedule.lastFireTime : new Date(plan.lastFireTime),
      jobs: plan.run.map((fireTime) => this.job(schedule, fireTime, now)),
      missed: this.missed(schedule, plan, now),
    };
  }

  /** One unreadable schedule must not stop the others: it is marked broken, visibly, and kept. */
  private broken(schedule: ScheduleRecord, reason: string): ScheduleRelease {
    this.runtime.logger.error({ scheduleId: schedule.id, reason }, 'schedule is broken and will not fire until fixed');
    return {
      scheduleId: schedule.id,
      revision: schedule.revision,
      nextFireTime: schedule.nextFireTime,
      lastFireTime: schedule.lastFireTime,
      jobs: [],
      missed: [],
      brokenReason: reason,
    };
  }

  private job(schedule: ScheduleRecord, fireTime: number, now: number): JobRecord {
    const jitter = schedule.maxJitter > 0 ? Math.floor(this.runtime.random() * (schedule.maxJitter + 1)) : 0;
    return newJobRecord(this.runtime, {
      task: schedule.task,
      args: schedule.args,
      now,
      runAt: fireTime + jitter,
      misfireGraceTime: schedule.misfireGraceTime,
      scheduleId: schedule.id,
      fireTime,
      maxInstances: schedule.maxInstances,
    });
  }

  private missed(schedule: ScheduleRecord, plan: FirePlan, now: number): ExecutionRecord[] {
    const grace = schedule.misfireGraceTime ?? 0;
    const records = plan.missed.map((fireTime) =>
      missedExecution(
        schedule,
        fireTime,
        now,
        this.runtime.node,
        `not started within the misfire grace time (${grace} ms) of its fire time`,
      ),
    );
    if (plan.missedBeyond !== null) {
      const { from, until } = plan.missedBeyond;
      records.push(
        missedExecution(
          schedule,
          from,
          now,
          this.runtime.node,
          `and every further fire time from ${new Date(from).toISOString()} until ${new Date(until).toISOString()} (too many to record one by one)`,
        ),
      );
    }
    return records;
  }
}

function missedExecution(
  schedule: ScheduleRecord,
  fireTime: number,
  now: number,
  node: string,
  message: string,
): ExecutionRecord {
  return {
    id: uuidv7(now),
    jobId: uuidv7(now),
    scheduleId: schedule.id,
    task: schedule.task,
    args: schedule.args,
    fireTime: new Date(fireTime),
    runAt: new Date(fireTime),
    startedAt: null,
    finishedAt: new Date(now),
    durationMs: null,
    outcome: 'missed',
    error: { name: 'MisfireGraceTimeExceeded', message, stack: null },
    result: null,
    node,
    attempt: 1,
  };
}
