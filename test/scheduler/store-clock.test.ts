import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.ts';
import { MemoryStore } from '../../src/stores/memory/memory-store.ts';
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { StoreClock } from '../../src/scheduler/store-clock.ts';
import type { Clock } from '../../src/time/clock.ts';
import { runsUntilStopped } from '../support/runs-until-stopped.ts';
import { VirtualClock } from '../../src/testing/index.ts';

const T0 = Date.parse('2030-01-07T00:00:00.000Z');

/** Lets a scheduler on a plain virtual clock (no test scheduler) finish what the last step started. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A store with a clock of its own, as a database is (`now()`), whose answer to the claim of a job
 * of `task` reaches the node only when `answer()` is called: a slow link, or a node whose event
 * loop was busy. The claim itself is written at once.
 */
class LateAnswerStore extends MemoryStore {
  private release = () => {};
  private readonly answered = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  private readonly time: VirtualClock;
  private readonly task: string;
  constructor(time: VirtualClock, task: string) {
    super({ clock: time });
    this.time = time;
    this.task = task;
  }
  async now(): Promise<Date> {
    return new Date(this.time.now());
  }
  override async acquireJobs(...args: Parameters<MemoryStore['acquireJobs']>) {
    const claimed = await super.acquireJobs(...args);
    if (claimed.jobs.some((job) => job.task === this.task && job.attempt === 1)) await this.answered;
    return claimed;
  }
  answer(): void {
    this.release();
  }
}

/** A node on `store` whose clock is right; its claim of a job of `task` is answered `lateMs` late. */
async function claimedLate(
  task: string,
  lateMs: number,
  define: (node: Scheduler) => void,
  add: (node: Scheduler) => Promise<string>,
) {
  const time = new VirtualClock(T0);
  const store = new LateAnswerStore(time, task);
  const node = new Scheduler({ store, clock: time, logger: silentLogger, pollInterval: '1h' });
  define(node);
  await node.start();
  const jobId = await add(node);
  await settle(); // claimed at 0 s; its answer travels
  time.advanceTo(T0 + lateMs);
  store.answer();
  await settle();
  return { node, jobId, time };
}

describe("a node's estimate of the store's clock, when a claim's answer comes late", () => {
  it('is left alone: the run is recorded when it started, and its retry keeps its whole back-off', async () => {
    const { node, jobId } = await claimedLate(
      'fails',
      4000,
      (scheduler) =>
        scheduler.task(
          'fails',
          () => {
            throw new Error('boom');
          },
          { retry: { attempts: 2, backoff: '10s' } },
        ),
      (scheduler) => scheduler.addJob('fails'),
    );
    try {
      const [run] = (await node.getExecutions({ jobId })).items;
      // Before: the answer was taken as read at its arrival, so the node's idea of the store's
      // time ran 4 s behind: the run was recorded as started at 0 s, and the retry was due at 10 s.
      expect(run?.startedAt?.getTime()).toBe(T0 + 4000);
      expect((await node.getJob(jobId))?.runAt.getTime()).toBe(T0 + 14_000);
    } finally {
      await node.stop();
    }
  });

  it('judges the start deadline when the job would start, not when it was claimed', async () => {
    const ran: string[] = [];
    const { node, jobId } = await claimedLate(
      'quick',
      3000,
      (scheduler) => scheduler.task('quick', (ctx) => void ran.push(ctx.jobId)),
      (scheduler) => scheduler.addJob('quick', { misfireGraceTime: '1s' }),
    );
    try {
      const [run] = (await node.getExecutions({ jobId })).items;
      // Before: judged at the claim (0 s), it ran 3 s after its run time, 2 s past its deadline.
      expect(run?.outcome).toBe('missed');
      expect(ran).toEqual([]);
    } finally {
      await node.stop();
    }
  });
});

describe("StoreClock, the node's estimate of the store's clock", () => {
  /** A node clock whose wall reading is `wall` and monotonic reading `steady`, set by the test. */
  function nodeClock() {
    const readings = { wall: 1_000_000, steady: 50 };
    const timers = new VirtualClock(0); // (no timer is set: StoreClock only reads the clock)
    const clock: Clock = {
      now: () => readings.wall,
      monotonicNow: () => readings.steady,
      setTimer: (callback, delayMs) => timers.setTimer(callback, delayMs),
      clearTimer: (handle) => timers.clearTimer(handle),
    };
    const pass = (ms: number) => {
      readings.wall += ms;
      readings.steady += ms;
    };
    return { readings, clock, pass };
  }

  /** A database's clock that these tests never read: they hand its answers to `observe` themselves. */
  const neverRead = () => Promise.reject(new Error('not read in this test'));

  it("of a database: keeps an estimate within each answer's round trip, however late the answer", () => {
    const { clock, pass } = nodeClock();
    const estimate = new StoreClock(clock, { now: neverRead });
    expect(estimate.now()).toBe(1_000_000); // the node's wall clock until the store answers
    // The database is 30 s ahead; a quick answer (2 ms) narrows the estimate to those 2 ms.
    let sentAt = 50;
    pass(2);
    estimate.observe(1_030_001, sentAt); // read 1 ms into the round trip
    // Taken as read on arrival (the range's lower end): 1 ms behind the truth, at most 2.
    expect(estimate.now()).toBe(1_030_001);
    // An answer 4 s late: the range it allows holds the estimate, which stays 1 ms behind. (Taken
    // as read on arrival, it would put the store's time 4 s behind: 1_030_003.)
    sentAt = 52;
    pass(4000);
    estimate.observe(1_030_003, sentAt); // read 1 ms after sending
    expect(estimate.now()).toBe(1_034_001);
    // The database's clock jumps a minute ahead (a failover to a server with another clock).
    sentAt = 4052;
    pass(2);
    estimate.observe(1_094_054, sentAt);
    expect(estimate.now()).toBe(1_094_054);
  });

  it('of a database: is not moved by a step of the wall clock, but says the clocks parted until read again', () => {
    const { readings, clock, pass } = nodeClock();
    const estimate = new StoreClock(clock, { now: neverRead });
    estimate.observe(2_000_000, 50);
    readings.wall -= 30_000; // NTP steps the wall clock back
    expect(estimate.now()).toBe(2_000_000);
    expect(estimate.diverged()).toBe(true);
    estimate.observe(2_000_000, 50);
    expect(estimate.diverged()).toBe(false);
    readings.steady -= 3_600_000; // a suspend the monotonic clock did not count
    expect(estimate.diverged()).toBe(true);
    pass(500); // time passing moves both: not a parting
    estimate.observe(estimate.now(), readings.steady);
    pass(500);
    expect(estimate.diverged()).toBe(false);
  });

  it("in the process: follows the node's wall clock, steps included", () => {
    const { readings, clock } = nodeClock();
    const estimate = new StoreClock(clock, {});
    estimate.observe(1_000_000, 50);
    readings.wall += 30_000;
    expect(estimate.now()).toBe(1_030_000);
    expect(estimate.diverged()).toBe(false);
  });
});

/**
 * A store with a clock of its own, as a database is, keeping real time (`time`), and the clock of a
 * node whose host can sleep: its wall clock keeps real time too, but its timers and monotonic
 * reading (`asleep`) stop while it sleeps.
 */
function suspendableNode() {
  const time = new VirtualClock(T0);
  const asleep = new VirtualClock(T0);
  const clock: Clock = {
    now: () => time.now(),
    monotonicNow: () => asleep.now(),
    setTimer: (callback, delayMs) => asleep.setTimer(callback, delayMs),
    clearTimer: (handle) => asleep.clearTimer(handle),
  };
  class StoreWithClock extends MemoryStore {
    async now(): Promise<Date> {
      return new Date(time.now());
    }
  }
  return { time, asleep, clock, store: new StoreWithClock({ clock: time }) };
}

describe('a node resumed after a suspend (its monotonic clock missed the sleep)', () => {
  it('renews at once, so its run of a job another node took over meanwhile is stopped within a second', async () => {
    // Node B keeps real time; node A's host sleeps longer than the lease.
    const { time, asleep, clock: clockOfA, store } = suspendableNode();
    const options = { store, logger: silentLogger, leaseDuration: '10s', pollInterval: '1h' } as const;
    const a = new Scheduler({ ...options, clock: clockOfA, nodeId: 'a' });
    const b = new Scheduler({ ...options, clock: time, nodeId: 'b' });
    const runs = runsUntilStopped([a, b], 'long', () => time.now() - T0, { retry: { abandoned: 1 } });
    const to = async (ms: number, clocks: VirtualClock[]) => {
      for (const clock of clocks) clock.advanceTo(T0 + ms);
      await settle();
    };
    try {
      await a.start();
      await a.addJob('long');
      await settle(); // A runs it, leased until 10 s
      await b.start();
      await to(5500, [time, asleep]); // A renewed at 5 s: leased until 15 s
      for (let t = 6000; t <= 60_000; t += 500) await to(t, [time]); // A's host sleeps
      expect(runs.map((run) => [run.node, run.attempt, run.stopped?.kind ?? 'running'])).toEqual([
        ['a', 1, 'running'],
        ['b', 2, 'running'], // B took it over once A's lease ran out
      ]);
      await to(61_000, [time]);
      await to(6500, [asleep]); // a second after the resume, by A's clocks
      // Before: A's next renewal was due at 10 s by its monotonic clock, so its run went on till then.
      expect(runs[0]?.stopped?.kind).toBe('lease_lost');
    } finally {
      for (const run of runs) run.finish();
      await a.stop();
      await b.stop();
    }
  });
});
