import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { createRuntime } from '../../src/scheduler/create-runtime.ts';
import { StrayLeases } from '../../src/scheduler/stray-leases.ts';
import { JobRunner } from '../../src/scheduler/job-runner.ts';
import { AsyncExecutor } from '../../src/executors/async-executor.ts';
import { until } from '../support/child-node.ts';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { date } from '../../src/triggers/index.ts';
import { runsUntilStopped } from '../support/runs-until-stopped.ts';
import { jobFixture } from '../stores/conformance/harness.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

const task = (name: string) => ({ name, maxRunningJobs: null });

/**
 * A store whose answers can be lost after it carried out the statement (a connection that broke
 * after the commit): claims, fires and renewals go through, then throw.
 */
class LostAnswerStore extends MemoryStore {
  readonly answersCanBeLost = true;
  /** Claims that hand out jobs to lose the answer of. */
  lostClaims = 0;
  /** Fires that lease jobs to lose the answer of. */
  lostFires = 0;
  /** While set, renewals go through but their answers are lost, and claims fail outright. */
  lostRenewals = false;
  /** Claims to fail outright. */
  failedClaims = 0;
  override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
    if (this.lostRenewals) throw new Error('store unreachable');
    if (this.failedClaims > 0) {
      this.failedClaims--;
      throw new Error('store unreachable');
    }
    const acquired = await super.acquireJobs(...args);
    if (acquired.jobs.length > 0 && this.lostClaims > 0) {
      this.lostClaims--;
      throw new Error('connection lost after the claim committed');
    }
    return acquired;
  }
  override async releaseSchedules(...args: Parameters<MemoryStore['releaseSchedules']>) {
    const released = await super.releaseSchedules(...args);
    if (released.started.length > 0 && this.lostFires > 0) {
      this.lostFires--;
      throw new Error('connection lost after the fire committed');
    }
    return released;
  }
  override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
    const status = await super.extendLeases(...args);
    if (this.lostRenewals) throw new Error('connection lost after the renewal committed');
    return status;
  }
}

describe('jobs leased to a node by a claim whose answer it lost', () => {
  let scheduler: TestScheduler;
  afterEach(async () => {
    await scheduler?.stop();
  });

  function setUp() {
    const store = new LostAnswerStore();
    scheduler = createTestScheduler({ now: T0, store, logger: silentLogger, leaseDuration: '30s' });
    const runs: number[] = [];
    // A job that must not run twice: no abandonment retry. Left leased, it would end `abandoned`, unrun.
    scheduler.task('once', () => void runs.push(scheduler.clock.now() - T0), { retry: { abandoned: 0 } });
    return { store, runs };
  }

  it('hands them back once the store answers again, and they run at once, recorded once', async () => {
    const { store, runs } = setUp();
    store.lostClaims = 1;
    await scheduler.start();
    const jobId = await scheduler.addJob('once');
    await scheduler.advance('2s');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toBeLessThan(2000); // not after the lease (30 s)
    await scheduler.advance('60s');
    expect(runs).toHaveLength(1);
    expect((await scheduler.history()).map((e) => [e.jobId, e.attempt, e.outcome])).toEqual([[jobId, 1, 'succeeded']]);
  });

  it('hands back the jobs a fire leased to it when the answer to the fire was lost', async () => {
    const { store, runs } = setUp();
    store.lostFires = 1;
    await scheduler.addSchedule('once', date(new Date(T0 + 1000)), { id: 'in-a-second' });
    await scheduler.start();
    await scheduler.advance('3s');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toBeLessThan(3000); // not after the lease (30 s)
    await scheduler.advance('60s');
    expect((await scheduler.history()).map((e) => [e.scheduleId, e.attempt, e.outcome])).toEqual([
      ['in-a-second', 1, 'succeeded'],
    ]);
  });

  it('leaves alone the jobs leased to its node id before it started (a process before it with that id)', async () => {
    const { store, runs } = setUp();
    await scheduler.ready();
    // The process before this one, with the same node id, claimed a job and died running it.
    await store.addJob(jobFixture({ task: 'once', abandonRetries: 0 }));
    const leased = await store.acquireJobs(scheduler.nodeId, { leaseMs: 30_000, limit: 1, tasks: [task('once')] });
    expect(leased.jobs).toHaveLength(1);
    await scheduler.advance('1s');
    store.failedClaims = 1; // this node's first claim fails: it looks for strays once one goes through
    await scheduler.start();
    await scheduler.advance('5s');
    expect(store.failedClaims).toBe(0);
    expect(runs).toEqual([]);
    expect((await scheduler.getJobs()).items.map((job) => [job.status, job.acquiredBy])).toEqual([
      ['running', scheduler.nodeId],
    ]);
    // Its takeover records it; with no abandonment retry, it does not run again.
    await scheduler.advance('40s');
    expect(runs).toEqual([]);
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(['abandoned']);
  });

  it('leaves alone a run it stopped for want of a renewal: its takeover records it, and it never runs twice', async () => {
    const store = new LostAnswerStore();
    scheduler = createTestScheduler({
      now: T0,
      store,
      logger: silentLogger,
      leaseDuration: '10s',
      settleTimeout: '10ms',
    });
    const runs = runsUntilStopped([scheduler], 'long', () => scheduler.clock.now(), { retry: { abandoned: 0 } });
    await scheduler.start();
    await scheduler.addJob('long');
    await scheduler.advance('1s'); // claimed at 0 s: lease until 10 s
    // Every renewal from 5 s on goes through, but the node never hears so: the store's lease keeps
    // moving on while, by the node's count, it ends at 10 s. Claims fail meanwhile.
    store.lostRenewals = true;
    await scheduler.advance('10s');
    expect(runs.map((run) => run.stopped?.kind)).toEqual(['lease_lost']);
    store.lostRenewals = false;
    // The store answers again; the run's lease there (renewed until about 20 s) then runs out.
    await scheduler.advance('30s');
    expect(runs).toHaveLength(1);
    expect((await scheduler.history()).map((e) => [e.attempt, e.outcome])).toEqual([[1, 'abandoned']]);
  });
});

describe('looking for stray jobs (StrayLeases)', () => {
  /** A store whose looks for strays wait for the test, and that counts them. */
  class GatedLookStore extends MemoryStore {
    answersCanBeLost = true;
    looks = 0;
    gate: Promise<void> = Promise.resolve();
    override async handBackStrayJobs(...args: Parameters<MemoryStore['handBackStrayJobs']>) {
      this.looks++;
      await this.gate;
      return super.handBackStrayJobs(...args);
    }
  }
  function setUp() {
    const store = new GatedLookStore();
    const runtime = createRuntime({ store, logger: silentLogger, nodeId: 'n1' });
    const strays = new StrayLeases(
      runtime,
      () => [],
      () => {},
    );
    return { store, strays };
  }
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  it('never looks on a store in the process: its failed statements did nothing, and another process may share the node id', async () => {
    const { store, strays } = setUp();
    store.answersCanBeLost = false; // as the memory and SQLite stores
    await expect(strays.write(() => Promise.reject(new Error('database is locked')))).rejects.toThrow('locked');
    strays.mayHoldStrays();
    await strays.write(async () => {});
    strays.storeAnswered();
    await settled();
    expect(store.looks).toBe(0);
  });

  it('looks only once no lease write is in flight: a claim that committed meanwhile would look stray', async () => {
    const { store, strays } = setUp();
    let finishClaim = () => {};
    const claim = strays.write(() => new Promise<void>((resolve) => (finishClaim = resolve)));
    await expect(strays.write(() => Promise.reject(new Error('answer lost')))).rejects.toThrow('answer lost');
    strays.storeAnswered(); // e.g. a renewal went through
    await settled();
    expect(store.looks).toBe(0);
    finishClaim();
    await claim;
    await settled();
    expect(store.looks).toBe(1);
    strays.storeAnswered(); // no longer unsure
    await settled();
    expect(store.looks).toBe(1);
  });

  it('holds lease writes back while it looks, and looks again after a look that failed', async () => {
    const { store, strays } = setUp();
    let openGate = () => {};
    store.gate = new Promise((resolve) => (openGate = resolve));
    strays.mayHoldStrays();
    strays.storeAnswered();
    expect(store.looks).toBe(1);
    let claimed = false;
    const claim = strays.write(async () => {
      claimed = true;
    });
    await settled();
    expect(claimed).toBe(false);
    openGate();
    await claim;
    expect(claimed).toBe(true);
    // A look that fails leaves the node unsure: the next answer brings another.
    store.gate = Promise.reject(new Error('store unreachable'));
    store.gate.catch(() => undefined);
    strays.mayHoldStrays();
    strays.storeAnswered();
    await settled();
    store.gate = Promise.resolve();
    strays.storeAnswered();
    await settled();
    expect(store.looks).toBe(3);
    strays.storeAnswered();
    await settled();
    expect(store.looks).toBe(3);
  });
});

describe('the attempts a look for strays leaves alone (JobRunner.strayFence)', () => {
  it('include a run whose record was given up on while stopping: it ran, and its takeover records it', async () => {
    let releases = 0;
    class UnrecordingStore extends MemoryStore {
      override async releaseJob(): Promise<boolean> {
        releases++;
        throw new Error('store unreachable');
      }
    }
    const store = new UnrecordingStore();
    const runtime = createRuntime({ store, logger: silentLogger, nodeId: 'n1' });
    await store.start({ events: runtime.events, clock: runtime.clock, logger: silentLogger, wake: () => {} });
    runtime.tasks.register('t', () => 'done');
    const runner = new JobRunner(runtime, new AsyncExecutor(), {
      onSlotFreed: () => {},
      onCapFreed: () => {},
      onLeased: () => {},
    });
    await store.addJob(jobFixture({ task: 't', runAt: new Date(Date.now() - 1000) }));
    const [job] = (await store.acquireJobs('n1', { leaseMs: 30_000, limit: 1, tasks: [task('t')] })).jobs;
    if (job === undefined) throw new Error('the job was not claimed');
    runner.start(job);
    await until(() => releases > 0, 'its record is tried', 5000, 5);
    expect(runner.strayFence()).toEqual([{ id: job.id, attempt: 1 }]); // being recorded
    runner.giveUpRecording();
    await runner.allRecorded();
    expect(runner.runningLeases()).toEqual([]); // no longer renewed
    expect(runner.strayFence()).toEqual([{ id: job.id, attempt: 1 }]);
  });
});
