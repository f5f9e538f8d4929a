import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { createTestScheduler, VirtualClock } from '../../src/testing/index.ts';
import { until } from '../support/child-node.ts';
import { steppedClock } from '../support/stepped-clock.ts';
import { prefetchHarness, T0 } from './prefetch-harness.ts';

const harness = prefetchHarness();
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A promise and the function that settles it: the tests below pace store calls and tasks with these. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('prefetchMaxWait: queued jobs go back to the cluster when they wait too long', () => {
  const { make, slowTask, addJobs } = harness;

  it('hands back jobs that waited prefetchMaxWait in the queue, and queues no more until a slot frees', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3, prefetchMaxWait: '5s' });
    const seen = slowTask(60_000);
    await addJobs(5);
    await scheduler.start();
    await scheduler.advance('10ms');
    const leasedBefore = (await scheduler.getJobs()).items.filter((job) => job.status === 'running');
    expect(leasedBefore).toHaveLength(4); // 1 running, 3 queued
    await scheduler.advance('5s');
    // Only the running job is still leased; the 3 are pending again as they were, unrecorded, and
    // the node, its slot still taken, did not claim them (or the fifth) back for its queue.
    const jobs = (await scheduler.getJobs()).items;
    expect(jobs.filter((job) => job.status === 'running').map((job) => (job.args as { n: number }).n)).toEqual([0]);
    expect(
      jobs.filter((job) => job.status === 'pending').map((job) => [job.acquiredBy, job.attempt, job.startedAt]),
    ).toEqual(Array.from({ length: 4 }, () => [null, 1, null]));
    expect(await scheduler.history()).toEqual([]);
    await scheduler.advance('55s'); // job 0 ends: its freed slot claims again, for the queue too
    expect(seen.started).toEqual([0, 1]);
    expect((await scheduler.getJobs()).items.filter((job) => job.status === 'running')).toHaveLength(4);
    await scheduler.advance('10m');
    expect(seen.started).toEqual([0, 1, 2, 3, 4]);
    expect((await scheduler.history()).map((e) => [e.outcome, e.attempt])).toEqual(
      Array.from({ length: 5 }, () => ['succeeded', 1]),
    );
  });

  it('lets an idle node run the jobs a busy node had queued, once they waited prefetchMaxWait', async () => {
    // Two nodes on one store, on the system clock, paced by a gate and by conditions (no sleeps).
    const store = new MemoryStore();
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const ranOn: Record<number, string> = {};
    const node = (nodeId: string, options: { prefetchJobs: number; maxConcurrentJobs: number }) => {
      const real = new Scheduler({ store, nodeId, logger: silentLogger, prefetchMaxWait: '100ms', ...options });
      real.task('gated', async (_ctx, args: { n: number }) => {
        ranOn[args.n] = nodeId;
        if (args.n === 0) await gate;
      });
      return real;
    };
    const busy = node('busy', { prefetchJobs: 3, maxConcurrentJobs: 1 });
    const idle = node('idle', { prefetchJobs: 0, maxConcurrentJobs: 5 });
    try {
      for (let n = 0; n < 4; n++) await busy.addJob('gated', { args: { n } });
      await busy.start();
      await until(
        async () => (await store.getJobs({})).items.filter((job) => job.acquiredBy === 'busy').length === 4,
        'the busy node runs job 0 and queues 1-3',
        5000,
        5,
      );
      await idle.start(); // nothing pending for it now
      await until(() => Object.keys(ranOn).length === 4, 'jobs 1-3 run on the idle node', 5000, 5);
      expect(ranOn).toEqual({ 0: 'busy', 1: 'idle', 2: 'idle', 3: 'idle' });
      openGate();
      await until(async () => (await store.getExecutions({})).items.length === 4, 'every run recorded', 5000, 5);
      const runs = (await store.getExecutions({})).items;
      expect(runs.map((e) => [e.outcome, e.attempt])).toEqual(Array.from({ length: 4 }, () => ['succeeded', 1]));
    } finally {
      openGate();
      await Promise.all([busy.stop(), idle.stop()]);
    }
  });

  it('keeps queued jobs however long they wait with prefetchMaxWait null', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 3, prefetchMaxWait: null });
    slowTask(60_000);
    await addJobs(4);
    await scheduler.start();
    await scheduler.advance('59s');
    const leased = (await scheduler.getJobs()).items.filter((job) => job.status === 'running');
    expect(leased).toHaveLength(4);
  });

  it('hands back the whole queue, so that claimed again the jobs keep their order', async () => {
    const scheduler = make({ maxConcurrentJobs: 1, prefetchJobs: 2, prefetchMaxWait: '5s' });
    const seen = slowTask(4000); // each refill queues a job after the one already waiting
    await addJobs(6);
    await scheduler.start();
    await scheduler.advance('1m');
    expect(seen.started).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('records a job cancelled while its hand-back is being written as cancelled, and never runs it', async () => {
    const duringHandBack: { run: ((jobId: string) => Promise<void>) | null } = { run: null };
    class SlowHandBackStore extends MemoryStore {
      override async releaseJob(...args: Parameters<MemoryStore['releaseJob']>): Promise<boolean> {
        const [, jobId, release] = args;
        const run = duringHandBack.run;
        if (release.execution === null && run !== null) {
          duringHandBack.run = null;
          await run(jobId);
        }
        return super.releaseJob(...args);
      }
    }
    const scheduler = make({
      store: new SlowHandBackStore(),
      maxConcurrentJobs: 1,
      prefetchJobs: 1,
      prefetchMaxWait: '5s',
    });
    const seen = slowTask(10_000);
    const [, queued] = await addJobs(2);
    let answer = '';
    duringHandBack.run = async (jobId) => {
      expect(jobId).toBe(queued);
      answer = await scheduler.cancelJob(jobId); // still leased here: the store flags it
    };
    await scheduler.start();
    await scheduler.advance('1m');
    expect(answer).toBe('requested');
    expect(seen.started).toEqual([0]);
    const outcomes = (await scheduler.history()).map((e) => [(e.args as { n: number }).n, e.outcome]);
    expect(outcomes.sort()).toEqual([
      [0, 'succeeded'],
      [1, 'cancelled'],
    ]);
  });

  it('leaves no timer behind when stop() comes while a claim for the queue travels', async () => {
    class SlowClaimStore extends MemoryStore {
      override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
        for (let i = 0; i < 3; i++) await nextTurn();
        return super.acquireJobs(...args);
      }
    }
    const scheduler = make({
      store: new SlowClaimStore(),
      maxConcurrentJobs: 1,
      prefetchJobs: 3,
      prefetchMaxWait: '5s',
    });
    scheduler.task('work', async () => {});
    await addJobs(4);
    await scheduler.start();
    await scheduler.stop(); // the first claim is in flight
    expect(scheduler.clock.pendingTimers).toBe(0);
  });

  it('hands back at once what a claim in flight during a hand-back took for the queue', async () => {
    // On the system clock, paced by gates. The node waits 1 s before handing its queue back; were
    // the jobs that the claim in flight took back kept, they would stay leased here another second.
    const claims = { gate: null as ReturnType<typeof gate> | null, held: 0, returned: 0 };
    class GatedClaimStore extends MemoryStore {
      override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
        const held = claims.gate;
        if (held !== null) {
          claims.held++;
          await held.opened;
        }
        const result = await super.acquireJobs(...args);
        if (held !== null) claims.returned++;
        return result;
      }
    }
    const store = new GatedClaimStore();
    const job0 = gate();
    const busy = new Scheduler({
      store,
      logger: silentLogger,
      batchSize: 10,
      maxConcurrentJobs: 1,
      prefetchJobs: 6,
      prefetchMaxWait: '1s',
      pollInterval: '1h',
    });
    busy.task('gated', async (_ctx, args: { n: number }) => {
      if (args.n === 0) await job0.opened;
    });
    const leasedHere = async () =>
      (await store.getJobs({})).items.filter((job) => job.acquiredBy === busy.nodeId).map((job) => job.args);
    try {
      for (let n = 0; n < 4; n++) await busy.addJob('gated', { args: { n } });
      await busy.start();
      await until(async () => (await leasedHere()).length === 4, '0 running, 1-3 queued', 5000, 5);
      claims.gate = gate();
      await busy.addJob('gated', { args: { n: 4 } }); // wakes a pass, which claims for the queue
      await until(() => claims.held === 1, 'a claim in flight', 5000, 5);
      await until(async () => (await leasedHere()).length === 1, 'jobs 1-3 handed back', 5000, 5);
      const inFlight = claims.gate;
      claims.gate = null;
      inFlight.open();
      await until(() => claims.returned === 1, 'the claim returned', 5000, 5);
      await until(async () => (await leasedHere()).length === 1, 'what it queued handed back at once', 500, 5);
      expect(await leasedHere()).toEqual([{ n: 0 }]);
    } finally {
      claims.gate?.open();
      job0.open();
      await busy.stop();
    }
  });

  it('does not abort a job claimed again after a hand-back when a renewal sent before says its lease was lost', async () => {
    // The renewal lists the queued job J; the store answers after J was handed back (J pending:
    // lost), and the answer arrives after this node claimed J again, with the same attempt.
    const renewal = { evaluate: gate(), answer: gate(), watched: '', held: 0, answered: false };
    class GatedRenewalStore extends MemoryStore {
      override async extendLeases(...args: Parameters<MemoryStore['extendLeases']>) {
        if (renewal.held === 0 && args[2].some((lease) => lease.id === renewal.watched)) {
          renewal.held++;
          await renewal.evaluate.opened;
          const status = await super.extendLeases(...args);
          await renewal.answer.opened;
          renewal.answered = true;
          return status;
        }
        return super.extendLeases(...args);
      }
    }
    const store = new GatedRenewalStore();
    const job0 = gate();
    const jobJ = gate();
    let aborted = false;
    const busy = new Scheduler({
      store,
      logger: silentLogger,
      maxConcurrentJobs: 1,
      prefetchJobs: 1,
      prefetchMaxWait: '2500ms',
      leaseDuration: '4s', // renewed every 2 s: the renewal comes while J is queued
      pollInterval: '1h',
    });
    busy.task('gated', async (ctx, args: { n: number }) => {
      await (args.n === 0 ? job0 : jobJ).opened;
      aborted = ctx.signal.aborted;
    });
    try {
      await busy.addJob('gated', { args: { n: 0 } });
      renewal.watched = await busy.addJob('gated', { args: { n: 1 } });
      await busy.start();
      await until(() => renewal.held === 1, 'a renewal listing J, queued', 5000, 5);
      const statusOfJ = async () => (await store.getJobs({ ids: [renewal.watched] })).items[0]?.status;
      await until(async () => (await statusOfJ()) === 'pending', 'J handed back', 5000, 5);
      renewal.evaluate.open();
      job0.open(); // the slot frees: this node claims J again and starts it
      await until(async () => (await statusOfJ()) === 'running', 'J claimed again', 5000, 5);
      renewal.answer.open();
      await until(() => renewal.answered, 'the renewal answered', 5000, 5);
      for (let i = 0; i < 3; i++) await nextTurn(); // the node acts on the answer
      jobJ.open();
      await until(async () => (await store.getExecutions({})).items.length === 2, 'both runs recorded', 5000, 5);
      const runsOfJ = (await store.getExecutions({})).items.filter((e) => e.jobId === renewal.watched);
      expect(runsOfJ.map((e) => [e.attempt, e.outcome])).toEqual([[1, 'succeeded']]);
      expect(aborted).toBe(false);
    } finally {
      renewal.evaluate.open();
      renewal.answer.open();
      job0.open();
      jobJ.open();
      await busy.stop();
    }
  });

  it('does not hand back the job claimed again meanwhile when it retries a hand-back whose answer was lost', async () => {
    const handedBack = gate();
    const runningAgain = gate();
    const finishRun = gate();
    const handBacks: boolean[] = [];
    class LostAnswerStore extends MemoryStore {
      override async releaseJob(...args: Parameters<MemoryStore['releaseJob']>): Promise<boolean> {
        if (args[2].execution !== null) return super.releaseJob(...args);
        if (handBacks.length === 0) {
          handBacks.push(await super.releaseJob(...args)); // it goes through...
          handedBack.open();
          throw new Error('connection lost before the answer'); // ...but the node never hears so
        }
        await runningAgain.opened; // the retry comes once the node has claimed and started the job again
        const held = await super.releaseJob(...args);
        handBacks.push(held);
        return held;
      }
    }
    const store = new LostAnswerStore();
    const scheduler = new Scheduler({
      store,
      logger: silentLogger,
      batchSize: 10,
      maxConcurrentJobs: 1,
      prefetchJobs: 1,
      prefetchMaxWait: '100ms',
    });
    const started: number[] = [];
    scheduler.task('gated', async (_ctx, args: { n: number }) => {
      started.push(args.n);
      if (args.n === 0) await handedBack.opened; // job 1 waits in the queue until it is handed back
      if (args.n === 1) {
        runningAgain.open();
        await finishRun.opened;
      }
    });
    try {
      for (let n = 0; n < 2; n++) await scheduler.addJob('gated', { args: { n } });
      await scheduler.start();
      await until(() => handBacks.length === 2, 'the hand-back retried while job 1 runs again', 5000, 5);
      expect(handBacks).toEqual([true, false]);
      expect((await store.getJobs({})).items).toMatchObject([{ status: 'running', acquiredBy: scheduler.nodeId }]);
      finishRun.open();
      await until(async () => (await store.getJobs({})).items.length === 0, 'both jobs done', 5000, 5);
      expect(started).toEqual([0, 1]);
      const runs = (await store.getExecutions({})).items;
      expect(runs.map((e) => [e.outcome, e.attempt])).toEqual([
        ['succeeded', 1],
        ['succeeded', 1],
      ]);
    } finally {
      handedBack.open();
      runningAgain.open();
      finishRun.open();
      await scheduler.stop();
    }
  });

  it('counts the wait on the monotonic clock: a wall clock stepped back meanwhile does not keep the jobs longer', async () => {
    // Real time passes on `time` (the store keeps it); the node's wall clock is stepped back a
    // minute (NTP) while jobs wait in its queue, its monotonic reading is not.
    const time = new VirtualClock(T0);
    const { clock: nodeClock, wall } = steppedClock(time);
    const node = new Scheduler({
      store: new MemoryStore({ clock: time }),
      clock: nodeClock,
      logger: silentLogger,
      maxConcurrentJobs: 1,
      prefetchJobs: 3,
      prefetchMaxWait: '5s',
      pollInterval: '1h',
    });
    const slot = gate();
    node.task('work', () => slot.opened);
    const settle = async () => {
      for (let i = 0; i < 20; i++) await nextTurn();
    };
    try {
      for (let n = 0; n < 4; n++) await node.addJob('work', { args: { n } });
      await node.start();
      await settle(); // 1 running, 3 queued
      time.advanceTo(T0 + 1000);
      wall.stepMs = -60_000;
      for (let t = 1500; t <= 6000; t += 500) {
        time.advanceTo(T0 + t);
        await settle();
      }
      // Before: counted on the wall clock, the queue was handed back only at 65 s.
      const pending = (await node.getJobs()).items.filter((job) => job.status === 'pending');
      expect(pending.map((job) => job.acquiredBy)).toEqual([null, null, null]);
    } finally {
      slot.open();
      await node.stop();
    }
  });

  it('rejects a prefetchMaxWait that is not a duration above zero, naming it', () => {
    for (const value of [0, -5, '0s', 'soon', true]) {
      expect(() => createTestScheduler({ now: T0, prefetchMaxWait: value as string })).toThrow(ValidationError);
      expect(() => createTestScheduler({ now: T0, prefetchMaxWait: value as string })).toThrow(/prefetchMaxWait/);
    }
  });
});
