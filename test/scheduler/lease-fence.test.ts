import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { until } from '../support/child-node.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

/** A store this node cannot reach while `unreachable` (a network partition, say), for leases and claims. */
class PartitionedStore extends MemoryStore {
  unreachable = false;
  override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
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

interface Run {
  attempt: number;
  /** Whether another run of the job was going on when this one started. */
  overlapping: boolean;
  stoppedFor?: string;
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
    const runs: Run[] = [];
    let active = 0;
    // Runs until it is told to stop.
    scheduler.task(
      'long',
      (ctx) =>
        new Promise<void>((resolve) => {
          const run: Run = { attempt: ctx.attempt, overlapping: active > 0 };
          runs.push(run);
          active++;
          ctx.signal.addEventListener('abort', () => {
            run.stoppedFor = (ctx.signal.reason as { kind: string }).kind;
            active--;
            resolve();
          });
        }),
    );
    return { store, runs };
  }

  it('stops it when the lease runs out, before another node can take it over: the re-run does not overlap it', async () => {
    const { store, runs } = setUp('10s');
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s');
    expect(runs).toEqual([{ attempt: 1, overlapping: false }]);
    store.unreachable = true;
    // Renewals every 5 s fail from now on: the claim's lease (claimed at 0 s) is the last one known.
    await scheduler.advance('8s');
    expect(runs[0]?.stoppedFor).toBeUndefined();
    await scheduler.advance('2s'); // past it
    expect(runs[0]?.stoppedFor).toBe('lease_lost');
    store.unreachable = false;
    // The lapsed lease is taken over (here by the same node): recorded abandoned, run again.
    await scheduler.advance('10s');
    expect(runs.map((run) => [run.attempt, run.overlapping])).toEqual([
      [1, false],
      [2, false],
    ]);
    expect((await scheduler.history()).map((e) => [e.attempt, e.outcome])).toEqual([[1, 'abandoned']]);
  });

  it('counts a renewed lease from the last renewal that got through', async () => {
    const { store, runs } = setUp('10s');
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s');
    await scheduler.advance('9s'); // renewed at 5 s and at 10 s: the lease now lasts until 20 s
    store.unreachable = true;
    await scheduler.advance('9s');
    expect(runs[0]?.stoppedFor).toBeUndefined();
    await scheduler.advance('2s');
    expect(runs[0]?.stoppedFor).toBe('lease_lost');
  });

  it('also lets go of the jobs waiting in its local queue, unstarted, whose leases lapsed with it', async () => {
    const { store, runs } = setUp('10s', { maxConcurrentJobs: 1, prefetchJobs: 1 });
    await scheduler.start();
    const running = await scheduler.addJob('long');
    const queued = await scheduler.addJob('long');
    await scheduler.advance('1s');
    expect((await store.getJobs({ ids: [queued] })).items[0]?.acquiredBy).toBe(scheduler.nodeId);
    store.unreachable = true;
    await scheduler.advance('10s');
    // Stopping the running job freed its slot: the queued one must not start in it.
    expect(runs.map((run) => [run.attempt, run.stoppedFor])).toEqual([[1, 'lease_lost']]);
    store.unreachable = false;
    await scheduler.advance('10s');
    const abandoned = (await scheduler.history()).filter((e) => e.outcome === 'abandoned').map((e) => e.jobId);
    expect(abandoned.sort()).toEqual([running, queued].sort());
  });
});

describe('a long prune of the history', () => {
  it('does not hold back the renewal of the leases of running jobs', async () => {
    let release = () => {};
    const pruneReleased = new Promise<void>((resolve) => {
      release = resolve;
    });
    const calls = { prunes: 0, renewals: 0 };
    class SlowPruneStore extends MemoryStore {
      override async pruneExecutions(...args: Parameters<MemoryStore['pruneExecutions']>) {
        calls.prunes++;
        await pruneReleased; // the first prune of years of history, say
        return super.pruneExecutions(...args);
      }
      override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
        calls.renewals++;
        return super.extendLeases(...args);
      }
    }
    // Real time: the prune is real work the virtual clock would wait for.
    const node = new Scheduler({ store: new SlowPruneStore(), logger: silentLogger, leaseDuration: '2s' });
    let stoppedFor: string | undefined;
    let finish = () => {};
    node.task(
      'long',
      (ctx) =>
        new Promise<void>((resolve) => {
          finish = resolve;
          ctx.signal.addEventListener('abort', () => {
            stoppedFor = (ctx.signal.reason as { kind: string }).kind;
            resolve();
          });
        }),
    );
    try {
      await node.start(); // its first housekeeping starts the prune (retention: 30 days)
      const id = await node.addJob('long');
      await until(() => calls.prunes === 1, 'the prune is under way', 5000, 10);
      // Renewed every second while the prune waits; without them the lease runs out and the job stops.
      await until(() => calls.renewals >= 3, 'three renewals during the prune', 20_000, 10);
      expect(stoppedFor).toBeUndefined();
      finish();
      await until(
        async () => (await node.getExecutions({ jobId: id })).items.length === 1,
        'the run is recorded',
        5000,
        10,
      );
      expect((await node.getExecutions({ jobId: id })).items[0]?.outcome).toBe('succeeded');
    } finally {
      release();
      await node.stop();
    }
  });
});
