import type { JobRecord } from '../stores/records.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Due jobs a node claimed beyond its free slots (`prefetchJobs`): leased to it, waiting here for a
 * slot, first claimed first. (Within one claim, jobs a cluster-wide cap applies to come first: see
 * `isCapped`. Across claims the order is kept, so no job waits behind ever newer ones.)
 */
export class LocalJobQueue {
  /** Each job with when it was queued (node clock), in the order queued, which is also the order of those times. */
  private readonly waiting = new Map<string, { job: JobRecord; since: number }>();

  get size(): number {
    return this.waiting.size;
  }

  add(job: JobRecord, since: number): void {
    this.waiting.set(job.id, { job, since });
  }

  /** The job that has waited longest, taken out of the queue; undefined if it is empty. */
  take(): JobRecord | undefined {
    for (const { job } of this.waiting.values()) {
      this.waiting.delete(job.id);
      return job;
    }
    return undefined;
  }

  /** Takes every job out, in the order queued. */
  takeAll(): JobRecord[] {
    const taken = this.jobs();
    this.waiting.clear();
    return taken;
  }

  /** When the job that has waited longest was queued; undefined if the queue is empty. */
  oldestSince(): number | undefined {
    for (const { since } of this.waiting.values()) return since;
    return undefined;
  }

  get(id: string): JobRecord | undefined {
    return this.waiting.get(id)?.job;
  }

  /** Takes one job out by id; undefined if it is not queued. */
  remove(id: string): JobRecord | undefined {
    const entry = this.waiting.get(id);
    if (entry !== undefined) this.waiting.delete(id);
    return entry?.job;
  }

  jobs(): JobRecord[] {
    return [...this.waiting.values()].map((entry) => entry.job);
  }
}

/**
 * Whether a cluster-wide cap applies to the job: its schedule's `maxInstances` or its task's
 * `maxRunningJobs`. A leased job counts against its caps even while it waits in the queue (other
 * nodes cannot run another one meanwhile), so of the jobs one claim brings, these take the free
 * slots first.
 */
export function isCapped(job: JobRecord, runtime: SchedulerRuntime): boolean {
  return job.maxInstances !== null || (runtime.tasks.get(job.task)?.maxRunningJobs ?? null) !== null;
}
