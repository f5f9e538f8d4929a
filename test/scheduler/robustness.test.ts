import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { createTestScheduler, type TestScheduler } from '../../src/testing/index.ts';
import { date, interval } from '../../src/triggers/index.ts';
import { until } from '../support/child-node.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A store whose release takes a real round trip, like a SQL store's. */
class SlowReleaseStore extends MemoryStore {
  override async releaseJob(...args: Parameters<MemoryStore['releaseJob']>): Promise<boolean> {
    await nextTurn();
    return super.releaseJob(...args);
  }
}

/**
 * A SQL store's timing: a claim reads the store at once but answers a little later, and a release
 * lands in between (so the claim still saw the finished job running).
 */
class SlowAnswerStore extends SlowReleaseStore {
  override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
    const acquired = await super.acquireJobs(...args);
    for (let i = 0; i < 3; i++) await nextTurn();
    return acquired;
  }
}

describe('faults in tasks and listeners', () => {
  let scheduler: TestScheduler;
  afterEach(async () => {
    await scheduler?.stop();
  });

  it('after a stop and a start, keeps retrying to record a run while the store fails (it gave up only while stopping)', async () => {
    let failures = 0;
    class FlakyStore extends MemoryStore {
      override async releaseJob(...args: Parameters<MemoryStore['releaseJob']>) {
        if (failures > 0) {
          failures--;
          throw new Error('store unreachable');
        }
        return super.releaseJob(...args);
      }
    }
    scheduler = createTestScheduler({ now: T0, store: new FlakyStore(), logger: silentLogger });
    scheduler.task('quick', () => 'done');
    await scheduler.start();
    await scheduler.stop(); // gives up recording while stopping
    await scheduler.start();
    failures = 2;
    await scheduler.addJob('quick');
    await scheduler.advance('1s');
    await until(async () => (await scheduler.history()).length === 1, 'the run is recorded', 10_000, 20);
    expect((await scheduler.history()).map((e) => [e.outcome, e.attempt])).toEqual([['succeeded', 1]]);
    expect(failures).toBe(0);
  });

  it('does not record a run whose job was taken over before its record got through, and logs its outcome', async () => {
    // The store is away (releases and renewals fail) for longer than the lease: the job is taken
    // over and run again before the first run's record gets through.
    let away = false;
    class AwayStore extends MemoryStore {
      override async releaseJob(...args: Parameters<MemoryStore['releaseJob']>) {
        if (away) throw new Error('store unreachable');
        return super.releaseJob(...args);
      }
      override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
        if (away) throw new Error('store unreachable');
        return super.extendLeases(...args);
      }
    }
    const warnings: { fields: object; message: string }[] = [];
    const logger = {
      ...silentLogger,
      warn: (fields: object, message?: string) => void warnings.push({ fields, message: message ?? '' }),
    };
    const store = new AwayStore();
    scheduler = createTestScheduler({ now: T0, store, logger, leaseDuration: '30s' });
    const outcomes: string[] = [];
    scheduler.on('job.succeeded', (event) => void outcomes.push(`succeeded ${event.execution.attempt}`));
    scheduler.on('job.abandoned', (event) => void outcomes.push(`abandoned ${event.execution.attempt}`));
    scheduler.task('work', (ctx) => {
      if (ctx.attempt === 1) away = true;
      return `run ${ctx.attempt}`;
    });
    await scheduler.start();
    const id = await scheduler.addJob('work');
    await until(() => away, 'the first run ended', 10_000, 5);
    // Its lease runs out while its record waits to be tried again, and the job is taken over (by
    // another node here, unless this node's own wake-up at the lease's end comes first).
    scheduler.clock.advanceTo(T0 + 31_000);
    await store.reapAbandoned();
    away = false;
    await until(async () => (await scheduler.history()).length === 2, 'the second run is recorded', 10_000, 5);
    await until(() => warnings.some((w) => w.message.includes('taken over')), 'the late outcome is logged', 10_000, 5);
    expect((await scheduler.history()).map((e) => [e.outcome, e.attempt])).toEqual([
      ['abandoned', 1],
      ['succeeded', 2],
    ]);
    expect(warnings.find((w) => w.message.includes('taken over'))?.fields).toMatchObject({
      jobId: id,
      attempt: 1,
      outcome: 'succeeded',
    });
    expect(outcomes).toEqual(['abandoned 1', 'succeeded 2']);
  });

  it('stops without another try to record a run once it gives up, though the try would never be answered', async () => {
    // The store fails five tries at once (the back-off grows to 1.6 s), then answers nothing more,
    // as a database that went silent would (here with no time limit).
    let tries = 0;
    class SilentStore extends MemoryStore {
      override releaseJob(...args: Parameters<MemoryStore['releaseJob']>): Promise<boolean> {
        tries++;
        if (tries <= 5) return Promise.reject(new Error('store unreachable'));
        void args;
        return new Promise<boolean>(() => {});
      }
    }
    const real = new Scheduler({ store: new SilentStore(), logger: silentLogger, shutdownTimeout: '10ms' });
    real.task('quick', () => 'done');
    try {
      await real.start();
      await real.addJob('quick');
      await until(() => tries === 5, 'the fifth try failed', 10_000, 5);
      await real.stop(); // before: waited out the back-off, then for the sixth try's answer, for ever
      expect(tries).toBe(5);
    } finally {
      await Promise.race([real.stop(), new Promise((resolve) => setTimeout(resolve, 100))]);
    }
  });

  it('records an error whose texts hold NUL characters, with U+FFFD in their place', async () => {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('nul', () => {
      const error = new Error('bad\u0000byte');
      error.name = 'Nul\u0000Error';
      throw error;
    });
    await scheduler.start();
    await scheduler.addJob('nul');
    await scheduler.advance('1s');
    const [execution] = await scheduler.history({ task: 'nul' });
    expect(execution?.outcome).toBe('failed');
    expect(execution?.error?.name).toBe('Nul\uFFFDError');
    expect(execution?.error?.message).toBe('bad\uFFFDbyte');
    expect(execution?.error?.stack).toContain('bad\uFFFDbyte');
  });

  it('records a run that threw a value that cannot be read or shown, once, as failed', async () => {
    scheduler = createTestScheduler({ now: T0, logger: silentLogger });
    const circular = Object.create(null) as Record<string, unknown>; // no toString, and JSON fails
    circular.self = circular;
    const unreadable = new Error('hidden');
    Object.defineProperty(unreadable, 'name', {
      get() {
        throw new Error('no name');
      },
    });
    Object.defineProperty(unreadable, 'stack', {
      get() {
        throw new Error('no stack');
      },
    });
    const uninspectable = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('no prototype');
        },
      },
    );
    const messageless = new Error('x');
    Object.defineProperty(messageless, 'message', { value: Object.create(null) });
    const thrown: Record<string, unknown> = { circular, unreadable, messageless, uninspectable };
    const runs: string[] = [];
    scheduler.task('exotic', (_ctx, which: string) => {
      runs.push(which);
      throw thrown[which];
    });
    await scheduler.start();
    for (const which of Object.keys(thrown)) await scheduler.addJob('exotic', { args: which });
    await scheduler.advance('2h'); // past any lease: a run not recorded would be re-run as abandoned
    expect(runs.sort()).toEqual(['circular', 'messageless', 'uninspectable', 'unreadable']);
    const history = await scheduler.history({ task: 'exotic' });
    expect(history.map((e) => [e.args, e.outcome, e.error?.name]).sort()).toEqual([
      ['circular', 'failed', 'NonErrorThrown'],
      ['messageless', 'failed', 'Error'],
      ['uninspectable', 'failed', 'NonErrorThrown'],
      ['unreadable', 'failed', 'Error'],
    ]);
  });

  it('keeps starting other jobs on time when tasks throw, reject, never settle or block briefly', async () => {
    scheduler = createTestScheduler({ now: T0, settleTimeout: '50ms' });
    scheduler.task('throws', () => {
      throw new TypeError('sync boom');
    });
    scheduler.task('rejects', async () => {
      throw 'a string, not an Error';
    });
    scheduler.task('never', () => new Promise(() => {}));
    scheduler.task('blocks', () => {
      const until = performance.now() + 20;
      while (performance.now() < until) {
        // a brief synchronous stretch of work
      }
    });
    scheduler.task('tick', () => 'ok');
    for (const task of ['throws', 'rejects', 'never', 'blocks']) {
      await scheduler.addSchedule(task, interval({ seconds: 10 }), { id: task });
    }
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 'tick' });
    await scheduler.start();
    await scheduler.advance('30s');
    const ticks = await scheduler.history({ task: 'tick' });
    expect(ticks).toHaveLength(31);
    expect(ticks.every((e) => e.outcome === 'succeeded' && e.startedAt?.getTime() === e.fireTime?.getTime())).toBe(
      true,
    );
    const failures = await scheduler.history({ outcome: 'failed' });
    expect(new Set(failures.map((e) => `${e.task}:${e.error?.name}:${e.error?.message}`))).toEqual(
      new Set(['throws:TypeError:sync boom', 'rejects:NonErrorThrown:a string, not an Error']),
    );
    // The never-settling task holds its one instance; later fires are skipped, not lost.
    const never = await scheduler.history({ task: 'never' });
    expect(never.map((e) => e.outcome)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(scheduler.state).toBe('running');
  });

  it('survives a listener that throws', async () => {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('tick', () => {});
    const seen: string[] = [];
    scheduler.on('job.started', () => {
      throw new Error('listener bug');
    });
    scheduler.on('job.succeeded', (event) => seen.push(event.jobId));
    await scheduler.start();
    const id = await scheduler.addJob('tick');
    await scheduler.runDue();
    expect(seen).toEqual([id]);
  });

  it('on stop, waits for running jobs to finish', async () => {
    scheduler = createTestScheduler({ now: T0, shutdownTimeout: '1m' });
    scheduler.task('work', (ctx) => ctx.sleep('20s'));
    await scheduler.start();
    await scheduler.addJob('work');
    await scheduler.runDue();
    await scheduler.stop();
    expect((await scheduler.history()).map((e) => [e.outcome, e.durationMs])).toEqual([['succeeded', 20_000]]);
  });

  it('on stop, hands back a job that outlives the shutdown timeout', async () => {
    scheduler = createTestScheduler({ now: T0, shutdownTimeout: '5s' });
    let signalReason: unknown;
    scheduler.task('long', async (ctx) => {
      try {
        await ctx.sleep('1h');
      } catch (error) {
        signalReason = error;
      }
    });
    await scheduler.start();
    const id = await scheduler.addJob('long');
    await scheduler.runDue();
    await scheduler.stop();
    expect((await scheduler.history()).map((e) => [e.outcome, e.durationMs])).toEqual([['abandoned', 5_000]]);
    expect(signalReason).toMatchObject({ kind: 'shutdown' });
    const [job] = (await scheduler.getJobs()).items;
    // Handed back without spending its abandonment budget: a deploy is not the job's fault.
    expect(job).toMatchObject({ id, status: 'pending', attempt: 2, abandonRetries: 2 });
  });

  it('hands back, unstarted, a job that a claim in flight when stop() began brings back', async () => {
    // On the system clock, paced by a gate: the claim reads the store only once the stop began.
    let openClaim = () => {};
    const claimGate = new Promise<void>((resolve) => (openClaim = resolve));
    const claims = { gated: false, held: 0 };
    class GatedClaimStore extends MemoryStore {
      override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
        if (claims.gated) {
          claims.held++;
          await claimGate;
        }
        return super.acquireJobs(...args);
      }
    }
    const store = new GatedClaimStore();
    const real = new Scheduler({ store, logger: silentLogger, pollInterval: '1h' });
    const ran: string[] = [];
    real.task('quick', (ctx) => void ran.push(ctx.jobId));
    try {
      await real.start();
      claims.gated = true;
      const id = await real.addJob('quick'); // wakes the job loop, whose claim waits at the gate
      await until(() => claims.held === 1, 'a claim in flight', 5000, 5);
      const stopping = real.stop();
      openClaim();
      await stopping;
      expect(ran).toEqual([]); // before: it started after stop() began, and the stop waited for it
      expect((await store.getJobs({})).items.map((job) => [job.id, job.status, job.attempt, job.acquiredBy])).toEqual([
        [id, 'pending', 1, null],
      ]);
    } finally {
      openClaim();
      await real.stop();
    }
  });

  it('does not wait past its shutdown timeout for a claim the store does not answer; what it brings back later goes back', async () => {
    let openClaim = () => {};
    const claimGate = new Promise<void>((resolve) => (openClaim = resolve));
    const claims = { gated: false, held: 0, answered: 0 };
    class GatedClaimStore extends MemoryStore {
      override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
        if (claims.gated) {
          claims.held++;
          await claimGate;
        }
        const acquired = await super.acquireJobs(...args);
        if (claims.gated) claims.answered += acquired.jobs.length;
        return acquired;
      }
    }
    const store = new GatedClaimStore();
    // One slot and a local queue: the claim brings back a job to start and two to queue.
    const real = new Scheduler({
      store,
      logger: silentLogger,
      pollInterval: '1h',
      shutdownTimeout: '100ms',
      maxConcurrentJobs: 1,
      prefetchJobs: 5,
    });
    const ran: string[] = [];
    real.task('quick', (ctx) => void ran.push(ctx.jobId));
    try {
      await real.ready();
      const ids = [await real.addJob('quick'), await real.addJob('quick'), await real.addJob('quick')];
      claims.gated = true;
      await real.start(); // its first claim waits at the gate
      await until(() => claims.held === 1, 'a claim in flight', 5000, 5);
      const stopping = real.stop().then(() => 'stopped');
      const waited = new Promise((resolve) => setTimeout(() => resolve('still stopping'), 20_000));
      expect(await Promise.race([stopping, waited])).toBe('stopped');
      openClaim();
      await until(() => claims.answered === 3, 'the claim brings back the three jobs', 5000, 5);
      const unleased = async () =>
        (await store.getJobs({})).items.every((job) => job.status === 'pending' && job.acquiredBy === null);
      await until(unleased, 'the claimed jobs are handed back', 5000, 5);
      expect(ran).toEqual([]);
      expect((await store.getJobs({})).items.map((job) => [job.id, job.attempt]).sort()).toEqual(
        ids.map((id) => [id, 1]).sort(),
      );
      expect((await store.getExecutions({})).items).toEqual([]);
    } finally {
      openClaim();
      await real.stop();
    }
  });

  it('hands back a job fired ahead that a fire answered after the stop brings back, rather than hold it', async () => {
    let openFire = () => {};
    const fireGate = new Promise<void>((resolve) => (openFire = resolve));
    const fires = { held: 0, started: 0 };
    class GatedFireStore extends MemoryStore {
      override async releaseSchedules(...args: Parameters<MemoryStore['releaseSchedules']>) {
        fires.held++;
        await fireGate;
        const released = await super.releaseSchedules(...args);
        fires.started += released.started.length;
        return released;
      }
    }
    const store = new GatedFireStore();
    const real = new Scheduler({
      store,
      logger: silentLogger,
      fireAhead: '1s',
      leaseDuration: '10s',
      shutdownTimeout: '100ms',
    });
    const ran: string[] = [];
    real.task('quick', (ctx) => void ran.push(ctx.jobId));
    try {
      // Due in half a second: fired at once, ahead, its job leased to this node to wait for its time.
      await real.addSchedule('quick', date(new Date(Date.now() + 500)), { id: 'soon' });
      await real.start();
      await until(() => fires.held === 1, 'the fire is on its way', 5000, 5);
      const stopping = real.stop().then(() => 'stopped');
      const waited = new Promise((resolve) => setTimeout(() => resolve('still stopping'), 20_000));
      expect(await Promise.race([stopping, waited])).toBe('stopped');
      openFire();
      await until(() => fires.started === 1, 'the fire leases its job to the stopped node', 5000, 5);
      await until(
        async () => (await store.getJobs({})).items.every((job) => job.status === 'pending' && job.acquiredBy === null),
        'the job is handed back',
        5000,
        5,
      );
      expect(ran).toEqual([]);
    } finally {
      openFire();
      await real.stop();
    }
  });

  it('leaves the store in the background when it does not answer in time; start() and another stop() wait for that', async () => {
    let openRemoval = () => {};
    const removalGate = new Promise<void>((resolve) => (openRemoval = resolve));
    const steps: string[] = [];
    class SlowGoodbyeStore extends MemoryStore {
      override async removeNode(...args: Parameters<MemoryStore['removeNode']>) {
        steps.push('removeNode');
        await removalGate;
        return super.removeNode(...args);
      }
      override async stop(...args: Parameters<MemoryStore['stop']>) {
        steps.push('store closed');
        return super.stop(...args);
      }
    }
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    const real = new Scheduler({ store: new SlowGoodbyeStore(), logger, shutdownTimeout: '100ms', pollInterval: '1h' });
    const ran: string[] = [];
    real.task('quick', (ctx) => {
      ran.push(ctx.jobId);
      return 'ran';
    });
    try {
      await real.start();
      await real.stop(); // returns while removeNode waits
      expect(steps).toEqual(['removeNode']);
      expect(warnings.some((message) => message.startsWith('stopped without waiting any longer'))).toBe(true);
      expect(real.state).toBe('stopped');
      // A second stop does not close the store under the first one's end; it gives up waiting too.
      await real.stop();
      expect(steps).toEqual(['removeNode']);
      // A call made now waits for that end, and goes to the store opened afresh, not to the closing one.
      const read = real.getJobs().then(() => steps.push('jobs read'));
      // A runJob made now is not given up by the end of the stop before it: the next start runs it.
      const outcome = real.runJob('quick');
      let started = false;
      const starting = real.start().then(() => {
        started = true;
      });
      for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      expect(started).toBe(false);
      openRemoval();
      await starting;
      await read;
      expect(steps).toEqual(['removeNode', 'store closed', 'jobs read']);
      expect(await outcome).toBe('ran');
      const id = await real.addJob('quick');
      await until(() => ran.includes(id), 'a job added after the new start runs', 5000, 5);
    } finally {
      openRemoval();
      await real.stop();
    }
  });

  it('on a test scheduler, lets a store that does real I/O finish leaving before the clock moves past the time limit', async () => {
    const steps: string[] = [];
    class RealIoStore extends MemoryStore {
      override async removeNode(...args: Parameters<MemoryStore['removeNode']>) {
        await new Promise((resolve) => setTimeout(resolve, 20)); // a round trip of real time
        steps.push('removeNode');
        return super.removeNode(...args);
      }
    }
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    scheduler = createTestScheduler({ now: T0, store: new RealIoStore(), logger });
    await scheduler.start();
    await scheduler.stop();
    expect(steps).toEqual(['removeNode']);
    expect(warnings).toEqual([]);
  });

  it('stops cleanly when stop() is called while start() is still running', async () => {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 1 }), { id: 's' });
    const starting = scheduler.start();
    await scheduler.stop();
    await starting;
    expect(scheduler.state).toBe('stopped');
    const before = (await scheduler.history()).length; // the fire due at start may have run
    await scheduler.advance('10s');
    expect(await scheduler.history()).toHaveLength(before);
    expect(scheduler.clock.pendingTimers).toBe(0);
  });

  it('adds a job asked for just before stop() on a scheduler never started (a store that need not wait as it opens)', async () => {
    scheduler = createTestScheduler({ now: T0 });
    scheduler.task('tick', () => {});
    const adding = scheduler.addJob('tick', { id: 'last' });
    await scheduler.stop();
    await adding;
    expect((await scheduler.getJob('last'))?.status).toBe('pending');
  });

  it('ends as the last of start() and stop() called at once asks', async () => {
    scheduler = createTestScheduler({ now: T0 });
    await scheduler.start();
    await Promise.all([scheduler.stop(), scheduler.start(), scheduler.stop()]);
    expect(scheduler.state).toBe('stopped');
    await Promise.all([scheduler.start(), scheduler.stop(), scheduler.start(), scheduler.stop(), scheduler.start()]);
    expect(scheduler.state).toBe('running');
  });

  it('runs when start() is called right after stop(), whether it was running or never started', async () => {
    for (const startFirst of [false, true]) {
      scheduler = createTestScheduler({ now: T0 });
      const ran: string[] = [];
      scheduler.task('t', (_ctx, name: string) => void ran.push(name));
      if (startFirst) await scheduler.start();
      const stopping = scheduler.stop();
      const starting = scheduler.start(); // made after the stop: it wins
      await Promise.all([stopping, starting]);
      expect(scheduler.state, `started first: ${startFirst}`).toBe('running');
      await scheduler.addJob('t', { args: 'after' });
      await scheduler.advance('1s');
      expect(ran).toEqual(['after']);
      await scheduler.stop();
    }
  });

  it('records a job as failed when the executor itself throws, and frees its slot', async () => {
    scheduler = createTestScheduler({
      now: T0,
      maxConcurrentJobs: 1,
      executor: {
        run: () => {
          throw new Error('executor broke');
        },
      },
    });
    scheduler.task('work', () => 'never runs');
    await scheduler.start();
    await scheduler.addJob('work');
    await scheduler.addJob('work');
    await scheduler.runDue();
    expect((await scheduler.history()).map((e) => [e.outcome, e.error?.message])).toEqual([
      ['failed', 'executor broke'],
      ['failed', 'executor broke'],
    ]);
    expect((await scheduler.getJobs()).items).toEqual([]);
  });

  it('wakes the job loop only after a finished job is released, so max-instances slots are seen free', async () => {
    scheduler = createTestScheduler({ now: T0, store: new SlowReleaseStore() });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 10 }), { id: 's', coalesce: 'all', maxInstances: 1 });
    await scheduler.clock.advanceTo(T0 + 40_000); // down: five fires are due
    await scheduler.start();
    await scheduler.runDue();
    expect((await scheduler.history()).map((e) => [e.outcome, ((e.fireTime?.getTime() ?? 0) - T0) / 1000])).toEqual([
      ['succeeded', 0],
      ['succeeded', 10],
      ['succeeded', 20],
      ['succeeded', 30],
      ['succeeded', 40],
    ]);
  });

  it('sees a max-instances place freed while a claim is in flight: the next pass looks again', async () => {
    scheduler = createTestScheduler({
      now: T0,
      store: new SlowAnswerStore(),
      maxConcurrentJobs: 1,
      pollInterval: '1h',
    });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 10 }), { id: 's', coalesce: 'all', maxInstances: 1 });
    await scheduler.clock.advanceTo(T0 + 40_000); // down: five fires are due
    await scheduler.start();
    await scheduler.advance('1s');
    expect((await scheduler.history()).map((e) => e.outcome)).toEqual(Array.from({ length: 5 }, () => 'succeeded'));
  });

  it("re-runs a dead node's job after its lease expires", async () => {
    const store = new MemoryStore();
    scheduler = createTestScheduler({ now: T0, store, leaseDuration: '30s' });
    const attempts: number[] = [];
    scheduler.task('work', (ctx) => {
      attempts.push(ctx.attempt);
    });
    const id = await scheduler.addJob('work', { delay: '1s' });
    // Another node leases the job, then dies without a word.
    await scheduler.clock.advanceTo(T0 + 1000);
    const { jobs } = await store.acquireJobs('dead-node', {
      leaseMs: 30_000,
      limit: 1,
      tasks: [{ name: 'work', maxRunningJobs: null }],
    });
    expect(jobs.map((j) => j.id)).toEqual([id]);
    await scheduler.start();
    await scheduler.advance('29s');
    expect(attempts).toEqual([]);
    await scheduler.advance('1s'); // the lease ran out at T0 + 31 s
    expect(attempts).toEqual([2]);
    expect((await scheduler.history())[1]?.startedAt?.getTime()).toBe(T0 + 31_000);
    const history = await scheduler.history();
    expect(history.map((e) => [e.outcome, e.node, e.attempt])).toEqual([
      ['abandoned', 'dead-node', 1],
      ['succeeded', scheduler.nodeId, 2],
    ]);
  });

  it('keeps memory flat over days: history capped, no jobs or timers left behind', async () => {
    const store = new MemoryStore({ maxExecutions: 1000 });
    scheduler = createTestScheduler({ now: T0, store });
    scheduler.task('tick', () => {});
    await scheduler.addSchedule('tick', interval({ seconds: 30 }), { id: 's' });
    await scheduler.start();
    await scheduler.advance('3d');
    expect((await scheduler.getJobs()).items).toEqual([]);
    const history = await scheduler.history();
    expect(history.length).toBeGreaterThanOrEqual(1000);
    expect(history.length).toBeLessThanOrEqual(1100);
    expect(history.at(-1)?.fireTime?.getTime()).toBe(T0 + 3 * 86_400_000);
    // One timer per loop, the lease renewals, the other housekeeping, the lease fence (see
    // LeaseFence) and at most one look at a freed slot: nothing accumulates.
    expect(scheduler.clock.pendingTimers).toBeLessThanOrEqual(6);
  });
});
