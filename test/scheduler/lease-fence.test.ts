import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { createTestScheduler, type TestScheduler, VirtualClock } from '../../src/testing/index.ts';
import { until } from '../support/child-node.ts';
import { runsUntilStopped } from '../support/runs-until-stopped.ts';
import { steppedClock } from '../support/stepped-clock.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

/** Lets a scheduler on a plain virtual clock (no test scheduler) finish what the last step started. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A store this node cannot reach while `unreachable` (a network partition, say), for leases and claims. */
class PartitionedStore extends MemoryStore {
  unreachable = false;
  /** Renewals to fail before the next one goes through (a blip rather than a partition). */
  failRenewals = 0;
  /** When each renewal came, on the scheduler's clock. */
  renewals: number[] = [];
  schedulerClock = { now: () => Number.NaN };
  override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
    this.renewals.push(this.schedulerClock.now());
    if (this.failRenewals > 0) {
      this.failRenewals--;
      throw new Error('renewal lost');
    }
    if (this.unreachable) throw new Error('store unreachable');
    return super.extendLeases(...args);
  }
  override async reapAbandoned(...args: Parameters<MemoryStore['reapAbandoned']>) {
    if (this.unreachable) throw new Error('store unreachable');
    return super.reapAbandoned(...args);
  }
  override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
    if (this.unreachable) throw new Error('store unreachable');
    return super.acquireJobs(...args);
  }
}

describe('a node that cannot renew the lease of a running job', () => {
  let scheduler: TestScheduler;
  afterEach(async () => {
    await scheduler?.stop();
  });

  function setUp(leaseDuration: string, more: { maxConcurrentJobs?: number; prefetchJobs?: number } = {}) {
    const store = new PartitionedStore();
    // The task waits for its signal only: no real time to give it at each step.
    scheduler = createTestScheduler({
      now: T0,
      store,
      logger: silentLogger,
      leaseDuration,
      settleTimeout: '10ms',
      ...more,
    });
    store.schedulerClock = scheduler.clock;
    const all = runsUntilStopped([scheduler], 'long');
    /** The runs so far: attempt, whether another was going on when it started, why it was stopped. */
    const runs = () =>
      all.map(({ attempt, overlapping, stopped }) => ({
        attempt,
        overlapping,
        ...(stopped === undefined ? {} : { stoppedFor: stopped.kind }),
      }));
    return { store, runs };
  }

  it('stops it when the lease runs out, before another node can take it over: the re-run does not overlap it', async () => {
    const { store, runs } = setUp('10s');
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s');
    expect(runs()).toEqual([{ attempt: 1, overlapping: false }]);
    store.unreachable = true;
    // Renewals every 5 s fail from now on: the claim's lease (claimed at 0 s) is the last one known.
    await scheduler.advance('8s');
    expect(runs()[0]?.stoppedFor).toBeUndefined();
    await scheduler.advance('2s'); // past it
    expect(runs()[0]?.stoppedFor).toBe('lease_lost');
    store.unreachable = false;
    // The lapsed lease is taken over (here by the same node): recorded abandoned, run again.
    await scheduler.advance('10s');
    expect(runs().map((run) => [run.attempt, run.overlapping])).toEqual([
      [1, false],
      [2, false],
    ]);
    expect((await scheduler.history()).map((e) => [e.attempt, e.outcome])).toEqual([[1, 'abandoned']]);
  });

  it('rides out one failed renewal: the next try comes a tenth of the lease later, not half a lease', async () => {
    const { store, runs } = setUp('10s');
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s'); // claimed at 0 s, lease until 10 s
    store.failRenewals = 1; // the renewal at 5 s fails
    await scheduler.advance('20s');
    expect(runs()).toEqual([{ attempt: 1, overlapping: false }]);
    const afterClaim = store.renewals.map((at) => (at - T0) / 1000);
    expect(afterClaim.slice(0, 3)).toEqual([5, 6, 11]); // failed, retried 1 s later, then every 5 s
  });

  it('counts a renewed lease from the last renewal that got through', async () => {
    const { store, runs } = setUp('10s');
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s');
    await scheduler.advance('9s'); // renewed at 5 s and at 10 s: the lease now lasts until 20 s
    store.unreachable = true;
    await scheduler.advance('9s');
    expect(runs()[0]?.stoppedFor).toBeUndefined();
    await scheduler.advance('2s');
    expect(runs()[0]?.stoppedFor).toBe('lease_lost');
  });

  it('also lets go of the jobs waiting in its local queue, and puts them back unstarted', async () => {
    const { store, runs } = setUp('10s', { maxConcurrentJobs: 1, prefetchJobs: 1 });
    await scheduler.start();
    const running = await scheduler.addJob('long');
    const queued = await scheduler.addJob('long');
    await scheduler.advance('1s');
    expect((await store.getJobs({ ids: [queued] })).items[0]?.acquiredBy).toBe(scheduler.nodeId);
    store.unreachable = true;
    await scheduler.advance('10s');
    // Stopping the running job freed its slot: the queued one must not start in it.
    expect(runs().map((run) => [run.attempt, run.stoppedFor])).toEqual([[1, 'lease_lost']]);
    store.unreachable = false;
    await scheduler.advance('10s');
    // The node put both back itself: the running one recorded abandoned (its re-run is attempt 2),
    // the queued one pending again on its first attempt, no retry spent, since it never started.
    expect((await scheduler.history()).map((e) => [e.jobId, e.attempt, e.outcome])).toEqual([
      [running, 1, 'abandoned'],
    ]);
    const [again] = (await store.getJobs({ ids: [queued] })).items;
    expect([again?.attempt, again?.abandonRetries]).toEqual([1, 2]);
    expect(runs().map((run) => [run.attempt, run.stoppedFor])).toEqual([
      [1, 'lease_lost'],
      [1, undefined],
    ]);
  });
});

describe('a node whose claim was answered late', () => {
  /**
   * Claims a job at 0 s (10 s lease) and gets the answer at `answerAt`, cut off from then on
   * (renewals and takeovers fail) until `reconnectAt`. Returns when each run started and stopped.
   */
  async function claimAnsweredLate(answerAt: number, reconnectAt: number) {
    let answer = () => {};
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    class LateAnswerStore extends PartitionedStore {
      override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
        const claimed = await super.acquireJobs(...args);
        if (claimed.jobs.length > 0 && claimed.jobs[0]?.attempt === 1) await answered; // written at once, answered late
        return claimed;
      }
    }
    // The test scheduler would wait for the claim to be answered before moving its clock.
    const clock = new VirtualClock(T0);
    const store = new LateAnswerStore();
    const node = new Scheduler({ store, clock, logger: silentLogger, leaseDuration: '10s', pollInterval: '1h' });
    const runs = runsUntilStopped([node], 'long', () => clock.now() - T0);
    try {
      await node.start();
      await node.addJob('long');
      await settle(); // claimed at 0 s: the store's lease ends at 10 s
      clock.advanceTo(T0 + answerAt);
      store.unreachable = true; // cut off...
      answer(); // ...just as the claim's answer arrives
      await settle();
      for (let t = answerAt + 500; t <= 30_000; t += 500) {
        if (t === reconnectAt) store.unreachable = false;
        clock.advanceTo(T0 + t);
        await settle();
      }
      return runs.map(({ attempt, startedAt, stopped }) => ({ attempt, startedAt, stoppedAt: stopped?.at }));
    } finally {
      store.unreachable = false;
      for (const run of runs) run.finish(); // what still runs ends, so that stop() need not wait
      await node.stop();
    }
  }

  it("counts the claim's lease from when the claim was sent, not from when its answer came", async () => {
    const runs = await claimAnsweredLate(8000, 40_000); // 8 s late; never reconnected in the test
    expect(runs.map((run) => [run.attempt, run.startedAt, run.stoppedAt])).toEqual([[1, 8000, 10_000]]);
  });

  it('does not start a job whose claim was answered after its lease ran out', async () => {
    // 12 s late; reconnected at 20 s, when this node's own takeover runs the job again.
    const runs = await claimAnsweredLate(12_000, 20_000);
    expect(runs.map((run) => run.attempt)).toEqual([2]);
    expect(runs[0]?.startedAt).toBeGreaterThanOrEqual(20_000);
  });
});

describe('a node whose wall clock is stepped back while it is cut off', () => {
  it('stops its job when the lease runs out all the same: it counts on its monotonic clock', async () => {
    // Real time passes on `time`; the node's wall clock reads `wall.stepMs` off it from some moment on
    // (NTP, a resumed VM), while its monotonic reading does not move. The store keeps true time.
    const time = new VirtualClock(T0);
    const { clock: nodeClock, wall } = steppedClock(time);
    const store = new PartitionedStore({ clock: time });
    const node = new Scheduler({
      store,
      clock: nodeClock,
      logger: silentLogger,
      leaseDuration: '10s',
      pollInterval: '1h',
    });
    const runs = runsUntilStopped([node], 'long', () => time.now() - T0);
    try {
      await node.start();
      await node.addJob('long');
      await settle(); // claimed at 0 s: the lease ends at 10 s
      time.advanceTo(T0 + 2000);
      store.unreachable = true;
      wall.stepMs = -30_000;
      for (let t = 2500; t <= 20_000; t += 500) {
        time.advanceTo(T0 + t);
        await settle();
      }
      expect(runs[0]?.stopped?.at ?? null).toBe(10_000);
    } finally {
      store.unreachable = false;
      wall.stepMs = 0;
      await node.stop();
    }
  });
});

describe('slow housekeeping', () => {
  /**
   * A node on a store whose `slow` step (after `startsAfter` quick calls) waits until released,
   * running a job that ends when told; counts that step's calls and the lease renewals.
   */
  async function withSlowStep(
    slow: 'pruneExecutions' | 'heartbeat',
    startsAfter: number,
    test: (node: Scheduler, calls: { slow: number; renewals: number }, finish: () => void) => Promise<void>,
  ) {
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls = { slow: 0, renewals: 0 };
    class SlowStore extends MemoryStore {
      override async pruneExecutions(...args: Parameters<MemoryStore['pruneExecutions']>) {
        if (slow === 'pruneExecutions' && ++calls.slow > startsAfter) await released;
        return super.pruneExecutions(...args);
      }
      override async heartbeat(...args: Parameters<MemoryStore['heartbeat']>) {
        if (slow === 'heartbeat' && ++calls.slow > startsAfter) await released;
        return super.heartbeat(...args);
      }
      override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
        calls.renewals++;
        return super.extendLeases(...args);
      }
    }
    // Real time: the slow step is real work the virtual clock would wait for.
    const node = new Scheduler({ store: new SlowStore(), logger: silentLogger, leaseDuration: '2s' });
    const runs = runsUntilStopped([node], 'long');
    try {
      await test(node, calls, () => runs.at(-1)?.finish());
    } finally {
      release();
      await node.stop();
    }
  }

  for (const [slow, startsAfter, what] of [
    ['pruneExecutions', 0, 'a long prune of the history (the first after years of it)'],
    ['heartbeat', 1, 'a heartbeat that does not answer'],
  ] as const) {
    it(`${what} does not hold back the renewal of the leases of running jobs`, async () => {
      await withSlowStep(slow, startsAfter, async (node, calls, finish) => {
        await node.start(); // its first housekeeping prunes (retention: 30 days) and heartbeats
        const id = await node.addJob('long');
        await until(() => calls.slow > startsAfter, 'the slow step is under way', 5000, 10);
        // Renewed every second meanwhile; without them the lease runs out and the job is stopped.
        await until(() => calls.renewals >= 3, 'three renewals during the slow step', 20_000, 10);
        finish();
        const outcome = async () => (await node.getExecutions({ jobId: id })).items[0]?.outcome;
        await until(async () => (await outcome()) !== undefined, 'the run is recorded', 5000, 10);
        expect(await outcome()).toBe('succeeded');
      });
    });
  }
});
