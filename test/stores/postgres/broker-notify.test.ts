// How the LISTEN broker sends its NOTIFYs: one at a time and in order, past one that never gets an
// answer, and on after one that failed (whatever the application's logger does).
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { PostgresEventBroker } from '../../../src/postgres.ts';
import { until } from '../../support/child-node.ts';
import { freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

/**
 * A broker on `channel` whose NOTIFYs go through `pool` (its LISTEN connection straight to the
 * server), and a raw LISTEN on the channel that keeps what it hears.
 */
async function brokerAndSpy(pool: pg.Pool, channel: string, logger = silentLogger) {
  const broker = new PostgresEventBroker({
    pool,
    connect: () => new pg.Client({ connectionString: TEST_DATABASE_URL }),
    channel,
    logger,
  });
  const spy = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await spy.connect();
  await spy.query(`LISTEN "${channel}"`);
  const payloads: string[] = [];
  spy.on('notification', (message) => payloads.push(message.payload ?? ''));
  return { broker, spy, payloads };
}

/**
 * The first NOTIFY sent through `pool` does `first()` before (or instead of) reaching the server:
 * wait, hang, fail. Counts the NOTIFYs sent.
 */
function firstNotify(pool: pg.Pool, first: () => Promise<unknown>): { sent: number } {
  const notifies = { sent: 0 };
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = async (...args) => {
    if (String(args[0]).includes('pg_notify') && notifies.sent++ === 0) await first();
    return query(...args);
  };
  return notifies;
}

/** A job.added event for `jobId`. */
const added = (jobId: string): KairosEvent => ({
  type: 'job.added',
  timestamp: new Date(),
  jobId,
  task: 't',
  scheduleId: null,
  fireTime: null,
  runAt: new Date(),
  leasedTo: null,
});

describe('PostgresEventBroker sending while a NOTIFY is slow', () => {
  it("sends its NOTIFYs one at a time: a node's events arrive in the order they happened", async () => {
    const channel = `kairos_${freshSchema('order')}`;
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    // The first NOTIFY takes its time (a busy connection), as the next one has a connection of its own.
    let openFirst = () => {};
    const firstHeld = new Promise<void>((resolve) => (openFirst = resolve));
    const notifies = firstNotify(pool, () => firstHeld);
    const { broker, spy, payloads } = await brokerAndSpy(pool, channel);
    try {
      await broker.start();
      broker.publish(added('first')); // with its question: the first NOTIFY, held back
      await until(() => notifies.sent >= 1, 'the first NOTIFY is on its way', 5000, 5);
      broker.publish(added('second'));
      // Time for a second NOTIFY to overtake the first, were it sent beside it (the order asserted
      // below does not depend on it).
      await new Promise((resolve) => setTimeout(resolve, 100));
      openFirst();
      const arrived = (jobId: string) => payloads.some((payload) => payload.includes(`"${jobId}"`));
      await until(() => arrived('first') && arrived('second'), 'both arrive', 5000, 10);
      const order = payloads.flatMap((payload) =>
        payload.includes('"first"') ? ['first'] : payload.includes('"second"') ? ['second'] : [],
      );
      expect(order).toEqual(['first', 'second']);
    } finally {
      openFirst();
      await broker.stop();
      await spy.end();
      await pool.end();
    }
  });
});

describe('PostgresEventBroker when a NOTIFY never gets an answer', () => {
  it('sends the next one beside it after a moment, rather than hold every later event (and its stop) behind it', async () => {
    const channel = `kairos_${freshSchema('hung')}`;
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    // Its first NOTIFY is on a connection that went silent: no answer, no error.
    const notifies = firstNotify(pool, () => new Promise(() => {}));
    const { broker, spy, payloads } = await brokerAndSpy(pool, channel);
    try {
      await broker.start(); // its question goes in the first NOTIFY, which hangs
      await until(() => notifies.sent >= 1, 'the first NOTIFY is on its way', 5000, 5);
      broker.publish(added('after-the-silent-one'));
      await until(
        () => payloads.some((payload) => payload.includes('after-the-silent-one')),
        'the event published after it arrives',
        10_000,
        10,
      );
      const stopping = broker.stop().then(() => 'stopped');
      const waited = new Promise((resolve) => setTimeout(() => resolve('still stopping'), 10_000));
      expect(await Promise.race([stopping, waited])).toBe('stopped');
    } finally {
      await spy.end();
      await pool.end();
    }
  });
});

describe('PostgresEventBroker with a logger that throws', () => {
  it('still sends later events after a failed NOTIFY whose warning threw', async () => {
    const channel = `kairos_${freshSchema('throwlog')}`;
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const notifies = firstNotify(pool, () => Promise.reject(new Error('connection lost')));
    const { broker, spy, payloads } = await brokerAndSpy(pool, channel, {
      ...silentLogger,
      warn: () => {
        throw new Error('the logger failed');
      },
    });
    try {
      await broker.start(); // its question goes in the first NOTIFY, which fails
      await until(() => notifies.sent >= 1, 'the first NOTIFY failed', 5000, 5);
      broker.publish(added('after-the-failure'));
      await until(
        () => payloads.some((payload) => payload.includes('after-the-failure')),
        'the next event arrives',
        5000,
        10,
      );
    } finally {
      await broker.stop();
      await spy.end();
      await pool.end();
    }
  });
});
