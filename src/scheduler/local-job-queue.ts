import type { JobRecord } from '../stores/records.ts';
import type { SchedulerRuntime } from './scheduler-runtime.ts';

/**
 * Due jobs a node claimed beyond its free slots (`prefetchJobs`): leased to it, waiting here for a
 * slot, first claimed first. Jobs a cluster-wide cap applies to (a schedule's `maxInstances`, a
 * task's `maxRunningJobs`) go ahead of the others: a leased job counts against its caps while it
 * waits, so other nodes cannot run another one meanwhile, and it should wait as little as possible.
 */
export class LocalJobQueue {
  private readonly capped = new Map<string, JobRecord>();
  private readonly uncapped = new Map<string, JobRecord>();

  get size(): number {
    return this.capped.size + this.uncapped.size;
  }

  add(job: JobRecord, capped: boolean): void {
    (capped ? this.capped : this.uncapped).set(job.id, job);
  }

  /** The next job to start, taken out of the queue; undefined if it is empty. */
  take(): JobRecord | undefined {
    for (const lane of [this.capped, this.uncapped]) {
      for (const job of lane.values()) {
        lane.delete(job.id);
        return job;
      }
    }
    return undefined;
  }

  /** Takes one job out by id; undefined if it is not queued. */
  remove(id: string): JobRecord | undefined {
    for (const lane of [this.capped, this.uncapped]) {
      const job = lane.get(id);
      if (job !== undefined) {
        lane.delete(id);
        return job;
      }
    }
    return undefined;
  }

  jobs(): JobRecord[] {
    return [...this.capped.values(), ...this.uncapped.values()];
  }
}

/** Whether a cluster-wide cap applies to the job: its schedule's `maxInstances` or its task's `maxRunningJobs`. */
export function isCapped(job: JobRecord, runtime: SchedulerRuntime): boolean {
  return job.maxInstances !== null || (runtime.tasks.get(job.task)?.maxRunningJobs ?? null) !== null;
}
