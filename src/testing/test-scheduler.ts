import {
  clearTimeout as realClearTimeout,
  setImmediate as realSetImmediate,
  setTimeout as realSetTimeout,
} from 'node:timers';
import { KairosError } from '../errors.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import type { SchedulerOptions } from '../scheduler/scheduler-options.ts';
import type { ExecutionQuery } from '../stores/queries.ts';
import type { ExecutionRecord } from '../stores/records.ts';
import { type Duration, parseDuration } from '../time/duration.ts';
import { toEpoch, VirtualClock } from './virtual-clock.ts';

export interface TestSchedulerOptions extends Omit<SchedulerOptions, 'clock'> {
  /** Where the virtual clock starts. (Default: the real current time; pass one for reproducible tests.) */
  now?: Date | string | number;
  /** (Default: 'UTC', so a test does not depend on the machine's zone.) */
  timezone?: string;
  /**
   * (Default: '1h'. Wake-ups inside one process are never lost, so the safety-net poll only adds
   * steps to `advance`; a long poll also makes a missing wake-up show up as a failing test.)
   */
  pollInterval?: SchedulerOptions['pollInterval'];
  /**
   * (Default: '10m'. Leases only matter when a node dies; a long one means fewer housekeeping
   * steps in `advance`. Tests of crash recovery set their own.)
   */
  leaseDuration?: SchedulerOptions['leaseDuration'];
  /**
   * Real time to wait for a running job that is neither finished nor waiting on the virtual clock
   * (`ctx.sleep`, a timeout) before the clock moves on without it. (Default: '1s'.)
   */
  settleTimeout?: Duration;
}

/** More steps than this within one `advance` means something re-arms timers forever. */
const MAX_STEPS = 1_000_000;

/**
 * A `Scheduler` on a virtual clock (and by default a `MemoryStore`): `advance('25h')` runs, in
 * order and without waiting, exactly the jobs that would have run in those 25 hours. Timers used
 * by Kairos itself (fires, retries, timeouts, `ctx.sleep`) are virtual; the test runner's own fake
 * timers are not used, so it works the same under vitest, jest and node:test.
 */
export class TestScheduler extends Scheduler {
  readonly clock: VirtualClock;
  private readonly settleTimeoutMs: number;

  constructor(options: TestSchedulerOptions = {}) {
    const clock = new VirtualClock(options.now ?? Date.now());
    super({ timezone: 'UTC', pollInterval: '1h', leaseDuration: '10m', ...options, clock });
    this.clock = clock;
    this.settleTimeoutMs = parseDuration('settleTimeout', options.settleTimeout ?? '1s');
  }

  /** Moves the virtual clock forward by `duration`, running everything that falls due on the way. */
  async advance(duration: Duration): Promise<void> {
    await this.advanceTo(this.clock.now() + parseDuration('advance duration', duration));
  }

  /** Moves the virtual clock to `at`, running everything that falls due on the way, in order. */
  async advanceTo(at: Date | string | number): Promise<void> {
    const target = toEpoch('advanceTo', at);
    await this.settle();
    for (let step = 0; ; step++) {
      if (step > MAX_STEPS) {
        throw new KairosError(
          'TEST_CLOCK_RUNAWAY',
          `test scheduler: timers kept falling due at ${new Date(this.clock.now()).toISOString()}; something re-arms itself without end`,
        );
      }
      const next = this.clock.nextTimerAt();
      if (next === null || next > target) break;
      this.clock.advanceTo(next);
      await this.settle();
    }
    this.clock.advanceTo(target);
    await this.settle();
  }

  /** Runs what is due at the current virtual time and waits until the scheduler is quiet. */
  async runDue(): Promise<void> {
    await this.advance(0);
  }

  /** All executions matching `query`, oldest first. */
  async history(query: Omit<ExecutionQuery, 'cursor' | 'limit'> = {}): Promise<ExecutionRecord[]> {
    const all: ExecutionRecord[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.getExecutions({ ...query, limit: 1000, cursor });
      all.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return all.reverse();
  }

  /** Stops, moving the virtual clock through the shutdown timeout if running jobs need it. */
  override async stop(): Promise<void> {
    let stopped = false;
    const stopping = super.stop().finally(() => {
      stopped = true;
    });
    const limit = this.clock.now() + this.runtime.options.shutdownTimeoutMs;
    for (let step = 0; step < MAX_STEPS; step++) {
      await this.settle();
      if (stopped) break;
      const next = this.clock.nextTimerAt();
      if (next === null || next > limit) {
        await nextMacrotask();
        if (stopped) break;
        continue;
      }
      this.clock.advanceTo(next);
    }
    await stopping;
  }

  /**
   * Waits until the scheduler's own work is done and every running job has finished or waits on
   * the virtual clock. A job waiting on anything else (real I/O) gets `settleTimeout` of real time.
   */
  async settle(): Promise<void> {
    const { activity } = this.runtime;
    for (;;) {
      // Microtasks all run before the next macrotask: after one, promise chains have settled.
      await nextMacrotask();
      if (activity.busy) {
        await activity.whenIdle();
        continue;
      }
      const waiting = [...this.runner.runningJobs()].filter((job) => !job.parked);
      if (waiting.length > 0) {
        const timedOut = await raceRealTimeout(Promise.race(waiting.map((job) => job.done)), this.settleTimeoutMs);
        // Still running after the real-time allowance: treat as waiting on the virtual clock.
        if (timedOut) for (const job of waiting) job.parked = true;
        continue;
      }
      return;
    }
  }
}

/** A scheduler for tests: virtual clock, memory store (unless given one), UTC. */
export function createTestScheduler(options: TestSchedulerOptions = {}): TestScheduler {
  return new TestScheduler(options);
}

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve));
}

async function raceRealTimeout(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof realSetTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = realSetTimeout(() => resolve(true), ms);
  });
  const result = await Promise.race([work.then(() => false), timeout]);
  realClearTimeout(timer);
  return result;
}
