import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import type { AcquiredJobs } from '../../../src/stores/data-store.ts';
import { PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { interval } from '../../../src/triggers/index.ts';
import { type Clock, systemClock } from '../../../src/time/clock.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';
import { until as waitUntil } from '../../support/child-node.ts';

// Two schedulers in this process, each with its own store, pool and LISTEN connection: to
// PostgreSQL they are two nodes. Their poll interval is an hour, so only NOTIFY can move them.
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

function node(schema: string, name: string, runsTasks: boolean): Scheduler {
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }),
    nodeId: name,
    logger: silentLogger,
    pollInterval: '1h',
  });
  scheduler.task('double', (_ctx, args: { n: number }) => {
    if (!runsTasks) throw new Error(`${name} must not run tasks`);
    return args.n * 2;
  });
  scheduler.task('noop', () => {
    if (!runsTasks) throw new Error(`${name} must not run tasks`);
  });
  return scheduler;
}

/** The shared wait, with this file's deadline (10 s) and poll period (10 ms). */
const until = (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) =>
  waitUntil(check, what, timeoutMs, 10);

/** A raw LISTEN client on Kairos's channel: it sees exactly what the nodes send. */
async function wireOf(schema: string) {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  const sent: string[] = [];
  client.on('notification', (message) => sent.push(message.payload ?? ''));
  await client.query(`LISTEN "kairos_${schema}"`);
  return {
    sent,
    /** Whether an event of `type` about the job was sent. */
    sentAbout: (jobId: string, type: string) =>
      sent.some((payload) => payload.includes(jobId) && payload.includes(`"type":"${type}"`)),
    end: () => client.end(),
  };
}

/**
 * A node (poll: an hour) whose task `report` records its start in `starts` and runs until the test
 * opens its gate in `gates`.
 */
function reportNode(
  name: string,
  store: PostgresStore,
  starts: Array<{ node: string; jobId: string }>,
  gates: Map<string, () => void>,
): Scheduler {
  const scheduler = new Scheduler({ store, nodeId: name, logger: silentLogger, pollInterval: '1h' });
  scheduler.task('report', async (ctx) => {
    starts.push({ node: name, jobId: ctx.jobId });
    await new Promise<void>((resolve) => gates.set(ctx.jobId, resolve));
  });
  return scheduler;
}

/**
 * Starts the first node on a schedule `hourly` of `report` (max instances 1) and runs one job of it
 * there; then starts the second node and adds another job of it, which must wait for the place.
 */
async function runOneAndAddAnother(
  first: Scheduler,
  second: Scheduler,
  starts: ReadonlyArray<{ node: string; jobId: string }>,
): Promise<{ running: string; waiting: string }> {
  await first.addSchedule('report', interval({ hours: 1 }), { id: 'hourly', maxInstances: 1 });
  await first.start();
  const running = await first.runScheduleNow('hourly');
  await until(() => starts.length === 1, 'the first job runs on the first node');
  await second.start();
  return { running, waiting: await first.runScheduleNow('hourly') };
}

/** Calls `seen` with what each claim of `store` got. */
function watchClaims(store: PostgresStore, seen: (acquired: AcquiredJobs) => void): void {
  const acquire = store.acquireJobs.bind(store);
  store.acquireJobs = async (claimer, options) => {
    const acquired = await acquire(claimer, options);
    seen(acquired);
    return acquired;
  };
}

describe('two PostgreSQL nodes', () => {
  it("wake each other through NOTIFY and hear each other's events", async () => {
    const schema = freshSchema('two');
    schemas.push(schema);
    const worker = node(schema, 'worker', true);
    const web = node(schema, 'web', false);
    await worker.start();
    await web.ready(); // adds jobs, never runs any
    const heardOnWeb: KairosEvent[] = [];
    web.on('*', (event) => heardOnWeb.push(event));
    const heard = (type: string, jobId: string) =>
      heardOnWeb.some((event) => event.type === type && 'jobId' in event && event.jobId === jobId);
    // The web node's interest reaches the worker in a NOTIFY of its own, a moment after `on()`: a
    // job the worker runs before that runs unobserved (events are best effort), so jobs are added
    // until one is heard starting.
    let id = '';
    await until(async () => {
      id = await web.addJob('double', { args: { n: 21 } });
      await until(async () => (await web.getExecutions({ jobId: id })).items.length === 1, 'the job ran');
      return heard('job.started', id);
    }, 'the web node hears a job start');
    await until(() => heard('job.succeeded', id), 'the web node hears the result');
    const succeeded = heardOnWeb.find((event) => event.type === 'job.succeeded' && event.jobId === id);
    expect(succeeded).toMatchObject({ jobId: id, execution: { node: 'worker', outcome: 'succeeded' } });
    expect(await web.runJob('double', { args: { n: 4 } })).toBe(8);
    await worker.stop();
    await web.stop();
  });
});

describe('two PostgreSQL nodes, one stopping', () => {
  it("start the next job of a schedule at max instances as soon as the stopping node's run frees its slot", async () => {
    const schema = freshSchema('capstop');
    schemas.push(schema);
    const starts: Array<{ node: string; jobId: string }> = [];
    const gates = new Map<string, () => void>();
    const store = () => new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    const first = reportNode('first', store(), starts, gates);
    const secondStore = store();
    // The second node's claims that found the waiting job held back by max instances (a run of
    // the first node holds the place), after which it sleeps (its poll is an hour).
    let heldBackClaims = 0;
    watchClaims(secondStore, ({ heldBackTasks }) => {
      if (heldBackTasks?.includes('report')) heldBackClaims++;
    });
    const second = reportNode('second', secondStore, starts, gates);
    const { running, waiting } = await runOneAndAddAnother(first, second, starts);
    await until(() => heldBackClaims > 0, 'the second node finds the job held back');
    const stopping = first.stop(); // a rolling deploy: its run finishes while it stops
    gates.get(running)?.();
    await stopping;
    await until(() => starts.some((start) => start.jobId === waiting), 'the waiting job runs');
    expect(starts.map((start) => start.node)).toEqual(['first', 'second']);
    gates.get(waiting)?.();
    await second.stop();
  });
});

describe("two PostgreSQL nodes, a job waiting for its schedule's place", () => {
  it("wake the node whose claim found it held back when the other node's run ends, and stop listening after", async () => {
    const schema = freshSchema('capheld');
    schemas.push(schema);
    const wire = await wireOf(schema);
    const { sent } = wire;
    const gates = new Map<string, () => void>();
    const starts: Array<{ node: string; jobId: string }> = [];
    const store = () => new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    const first = reportNode('first', store(), starts, gates);
    const secondStore = store();
    const claims = { second: 0 };
    watchClaims(secondStore, () => void claims.second++);
    const second = reportNode('second', secondStore, starts, gates);
    const heardOnFirst: string[] = [];
    first.on('job.added', (event) => heardOnFirst.push(event.jobId));
    try {
      const { running, waiting } = await runOneAndAddAnother(first, second, starts);
      // The second node's claim finds the job held back, and it asks for the task's outcomes. (The
      // first node does not: its own run holds the place, and the run's end wakes it anyway.)
      const asking = (payload: string) => payload.endsWith('|!["finished:report"]');
      await until(() => sent.some(asking), 'the interest is announced');
      const announcement = sent.find(asking) as string;
      const origin = announcement.slice(0, announcement.indexOf('|!'));
      // The first node has heard it: a NOTIFY the second node sends later reaches it after.
      const marker = await second.addJob('report', { runAt: new Date(Date.now() + 3_600_000) });
      await until(() => heardOnFirst.includes(marker), 'the first node hears what the second sent next');
      const claimsBefore = claims.second;
      gates.get(running)?.(); // the run holding the place ends, on the first node
      // Its outcome goes out, because the second node asked for it, and wakes the second node.
      await until(() => wire.sentAbout(running, 'job.succeeded'), "the first node sends its run's outcome");
      await until(() => claims.second > claimsBefore, 'the second node claims again (its poll is an hour)');
      await until(() => starts.some((start) => start.jobId === waiting), 'the waiting job runs');
      gates.get(waiting)?.();
      // Nothing is held back any more: the second node withdraws its interest at its next claim.
      await until(() => sent.indexOf(`${origin}|![]`) > sent.indexOf(announcement), 'the interest is withdrawn');
      expect(sent.filter(asking)).toEqual([announcement]); // only the second node asked
    } finally {
      for (const open of gates.values()) open();
      await first.stop();
      await second.stop();
      await wire.end();
    }
  });
});

// Observation events (job.started, run outcomes) cross to other nodes only while one of them
// listens for them. A raw LISTEN client on Kairos's channel sees exactly what the nodes send.
describe('two PostgreSQL nodes, one firing ahead', () => {
  it('a job held for its fire time and handed back on stop is run on time by the other node', async () => {
    const schema = freshSchema('handback');
    schemas.push(schema);
    const ahead = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }),
      nodeId: 'ahead',
      logger: silentLogger,
      pollInterval: '1h',
      fireAhead: '2s',
    });
    ahead.task('noop', () => {});
    const other = node(schema, 'other', true);
    await ahead.addSchedule('noop', interval({ seconds: 5 }), { id: 'every-5s' });
    await ahead.start();
    await other.start(); // fires at the fire time: 'ahead' always takes the schedule first
    let held: { id: string; fireTime: Date } | undefined;
    await until(async () => {
      const [job] = (await other.getJobs({ status: 'running' })).items;
      if (job?.acquiredBy === 'ahead' && (job.startedAt as Date).getTime() > Date.now() + 300) {
        held = { id: job.id, fireTime: job.fireTime as Date };
      }
      return held !== undefined;
    }, "'ahead' holds a job for its fire time");
    await ahead.stop(); // hands it back, and tells the other node (whose poll is an hour)
    const heldJob = held as { id: string; fireTime: Date };
    await until(
      async () => (await other.getExecutions({ jobId: heldJob.id })).items.length === 1,
      'the other node runs it',
    );
    const [run] = (await other.getExecutions({ jobId: heldJob.id })).items;
    expect(run).toMatchObject({ node: 'other', outcome: 'succeeded', attempt: 1 });
    const lateness = (run?.startedAt as Date).getTime() - heldJob.fireTime.getTime();
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(1000);
    await other.stop();
  });
});

describe('PostgreSQL event traffic follows interest', () => {
  it('sends job.started and outcomes to other nodes only while one of them listens for them', async () => {
    const schema = freshSchema('interest');
    schemas.push(schema);
    const wire = await wireOf(schema);
    const { sent, sentAbout } = wire;

    const worker = node(schema, 'worker', true);
    const web = node(schema, 'web', false);
    await worker.start();
    await web.ready();

    // Nobody else listens: the worker keeps its runs to itself; job.added (a job to take) goes out.
    const quiet = await web.addJob('noop');
    await until(async () => (await web.getExecutions({ jobId: quiet })).items.length === 1, 'the quiet job ran');
    await until(() => sentAbout(quiet, 'job.added'), 'job.added was sent');
    expect(sentAbout(quiet, 'job.started') || sentAbout(quiet, 'job.succeeded')).toBe(false);

    // The web node starts listening: its interest is announced, and the worker sends outcomes.
    const heard: string[] = [];
    const off = web.on('job.succeeded', (event) => heard.push(event.jobId));
    await until(() => sent.some((payload) => payload.includes('|!["job.succeeded"]')), 'the interest was announced');
    const watched = await web.addJob('noop');
    await until(() => heard.includes(watched), 'the web node hears the outcome');
    expect(sentAbout(watched, 'job.started')).toBe(false); // not asked for

    // It stops listening: the withdrawal goes out, and outcomes stay home again.
    off();
    await until(() => sent.some((payload) => payload.includes('|![]')), 'the interest was withdrawn');
    const after = await web.addJob('noop');
    await until(async () => (await web.getExecutions({ jobId: after })).items.length === 1, 'the last job ran');
    await until(() => sentAbout(after, 'job.added'), 'job.added was sent');
    expect(sentAbout(after, 'job.succeeded')).toBe(false);

    // runJob waits for an outcome from another node: it says so, and hears it at once.
    expect(await web.runJob('noop')).toBeNull();

    await worker.stop();
    await web.stop();
    await wire.end();
  });

  it('a node that connects late learns what the others already listen for', async () => {
    const schema = freshSchema('late');
    schemas.push(schema);
    const web = node(schema, 'web', false);
    await web.ready();
    const heard: string[] = [];
    web.on('job.succeeded', (event) => heard.push(event.jobId));
    // The worker starts after the announcement went out; it asks, and the web node answers.
    const worker = node(schema, 'worker', true);
    await worker.start();
    // A job it runs before the answer arrives sends no outcome (that one is lost to the web
    // node's listener), so jobs keep coming until one is heard. Without the answer, none would
    // be until the web node repeats its announcement, minutes later.
    const added: string[] = [];
    await waitUntil(
      async () => {
        if (added.some((id) => heard.includes(id))) return true;
        added.push(await web.addJob('noop'));
        return false;
      },
      'the web node hears the outcome of a run on the late worker',
      10_000,
      250,
    );
    await worker.stop();
    await web.stop();
  });
});

describe('two PostgreSQL nodes, one prefetching', () => {
  it('jobs queued on a busy node are handed back after prefetchMaxWait and run by the idle one, woken by NOTIFY', async () => {
    const schema = freshSchema('queuewait');
    schemas.push(schema);
    let openGate: () => void = () => {};
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const ranOn = new Map<number, string>();
    const prefetching = (name: string, prefetchJobs: number, maxConcurrentJobs: number) => {
      const scheduler = new Scheduler({
        store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }),
        nodeId: name,
        logger: silentLogger,
        pollInterval: '1h',
        prefetchJobs,
        maxConcurrentJobs,
        prefetchMaxWait: '300ms',
      });
      scheduler.task('gated', async (_ctx, args: { n: number }) => {
        ranOn.set(args.n, name);
        if (args.n === 0) await gate;
      });
      return scheduler;
    };
    const busy = prefetching('busy', 3, 1);
    const idle = prefetching('idle', 0, 5);
    try {
      for (let n = 0; n < 4; n++) await busy.addJob('gated', { args: { n } });
      await busy.start();
      await until(
        async () => (await busy.getJobs({ status: 'running' })).items.length === 4,
        'the busy node runs job 0 and queues 1-3',
      );
      await idle.start();
      await until(() => ranOn.size === 4, 'jobs 1-3 run on the idle node');
      expect(Object.fromEntries(ranOn)).toEqual({ 0: 'busy', 1: 'idle', 2: 'idle', 3: 'idle' });
      openGate();
      await until(async () => (await idle.getExecutions()).items.length === 4, 'every run recorded');
      const runs = (await idle.getExecutions()).items;
      expect(runs.map((e) => [e.outcome, e.attempt])).toEqual(Array.from({ length: 4 }, () => ['succeeded', 1]));
    } finally {
      openGate();
      await Promise.all([busy.stop(), idle.stop()]);
    }
  });
});

describe('the nodes table on PostgreSQL', () => {
  it("shows a node's start and last beat both on the database's clock, whatever the node's clock says", async () => {
    const schema = freshSchema('nodeclock');
    schemas.push(schema);
    const hourAhead: Clock = { ...systemClock, now: () => Date.now() + 3_600_000 };
    const scheduler = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
      nodeId: 'ahead',
      logger: silentLogger,
      clock: hourAhead,
    });
    try {
      await scheduler.start(); // the first heartbeat is part of the start
      const [node] = await scheduler.getNodes();
      expect(node?.id).toBe('ahead');
      const startedToSeen = (node?.lastSeen.getTime() ?? 0) - (node?.startedAt.getTime() ?? 0);
      expect(startedToSeen).toBeGreaterThanOrEqual(-1000); // not an hour after it
      expect(startedToSeen).toBeLessThan(60_000);
    } finally {
      await scheduler.stop();
    }
  });
});
