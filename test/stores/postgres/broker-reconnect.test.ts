import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../../../src/common/logger.ts';
import { PostgresEventBroker, PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { systemClock } from '../../../src/time/clock.ts';
import { until as waitUntil } from '../../support/child-node.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
afterAll(async () => {
  await dropSchemas(schemas);
  await admin.end();
});

/** This file's wait: 5 s, looking every 5 ms (a reconnect is tried 250 ms after a loss). */
const until = (check: () => boolean | Promise<boolean>, what: string) => waitUntil(check, what, 5000, 5);

/** The backends of LISTEN connections made with this application name. */
async function listenBackends(application: string): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()',
    [application],
  );
  return rows.map((row) => row.pid);
}

async function terminate(pids: number[]): Promise<void> {
  await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
}

/** A broker on its own channel whose LISTEN connections carry `application` as their name. */
function broker(application: string, pool: pg.Pool): PostgresEventBroker {
  return new PostgresEventBroker({
    pool: pool as never,
    connect: () => new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: application }) as never,
    channel: `kairos_${application}`,
    logger: silentLogger,
  });
}

describe('PostgresEventBroker reconnecting', () => {
  it('backs off when the server ends every LISTEN connection soon after it is made (idle_session_timeout)', async () => {
    const application = freshSchema('b_idle');
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const connectedAt: number[] = [];
    const events = new PostgresEventBroker({
      pool: pool as never,
      connect: () => {
        connectedAt.push(Date.now());
        const options = '-c idle_session_timeout=100';
        return new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: application, options }) as never;
      },
      channel: `kairos_${application}`,
      logger: silentLogger,
      checkEveryMs: 60_000, // no check keeps the connection busy
    });
    try {
      await events.start();
      await waitUntil(() => connectedAt.length >= 4, 'three connections lost and made again', 15_000, 5);
      // Made again 250, 500, then 1,000 ms after each loss: not every 250 ms for as long as it lasts.
      const [, , third, fourth] = connectedAt as [number, number, number, number];
      expect(fourth - third).toBeGreaterThanOrEqual(1000);
    } finally {
      await events.stop();
      await pool.end();
    }
  });

  it('reconnects after a later loss when it was stopped while waiting to reconnect, then started again', async () => {
    const application = freshSchema('b_retry');
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const events = broker(application, pool);
    try {
      await events.start();
      await terminate(await listenBackends(application));
      await until(() => !events.connected, 'the loss is noticed (a reconnect is then 250 ms away)');
      await events.stop();
      await events.start();
      expect(events.connected).toBe(true);
      await terminate(await listenBackends(application));
      await until(() => !events.connected, 'the second loss is noticed');
      await until(() => events.connected, 'it reconnects');
    } finally {
      await events.stop();
      await pool.end();
    }
  });

  it('keeps one LISTEN connection when stopped and started again while the first one was being made', async () => {
    const application = freshSchema('b_twice');
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const clients: { ended: boolean }[] = [];
    const events = new PostgresEventBroker({
      pool: pool as never,
      connect: () => {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: application });
        const state = { ended: false };
        clients.push(state);
        const end = client.end.bind(client);
        client.end = (() => {
          state.ended = true;
          return end();
        }) as typeof client.end;
        return client as never;
      },
      channel: `kairos_${application}`,
      logger: silentLogger,
    });
    try {
      const first = events.start();
      await events.stop();
      await events.start();
      await first; // both connects are done
      expect(clients).toHaveLength(2);
      expect(clients.filter((client) => !client.ended)).toHaveLength(1);
    } finally {
      await events.stop();
      await pool.end();
    }
    expect(clients.every((client) => client.ended)).toBe(true);
  });
});

describe('PostgresEventBroker checking that its LISTEN connection hears', () => {
  it('asks again after the NOTIFY carrying its question failed, even with nothing else to send, rather than blame the connection', async () => {
    const application = freshSchema('b_echo');
    const real = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    let failures = 1;
    const flaky = {
      query: (text: string, values?: unknown[]) => {
        if (failures > 0 && text.includes('pg_notify')) {
          failures--;
          return Promise.reject(Object.assign(new Error('terminating connection'), { code: '57P01' }));
        }
        return real.query(text, values);
      },
      connect: () => real.connect(),
      end: () => real.end(),
      on: () => undefined,
    };
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_fields, message) => void warnings.push(String(message)) };
    const events = new PostgresEventBroker({
      pool: flaky as never,
      connect: () => new pg.Client({ connectionString: TEST_DATABASE_URL, application_name: application }) as never,
      channel: `kairos_${application}`,
      logger,
      checkEveryMs: 200,
    });
    try {
      await events.start();
      await until(() => failures === 0, 'the first NOTIFY failed');
      // Nothing else to send: the question goes again with the next check of the connection.
      await until(() => events.hearing, 'it hears its question, sent again');
      expect(warnings.filter((message) => /hears no notifications/.test(message))).toEqual([]);
    } finally {
      await events.stop();
      await real.end();
    }
  });
});

describe('PostgresEventBroker checking that its LISTEN connection hears, while it connects', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  it('does not count a NOTIFY sent while the LISTEN was still being made, which it cannot hear', async () => {
    const channel = `kairos_${freshSchema('b_echo_race')}`;
    const real = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    let notifies = 0;
    let firstNotifyDone!: () => void;
    const firstNotify = new Promise<void>((resolve) => (firstNotifyDone = resolve));
    const pool = {
      query: async (text: string, values?: unknown[]) => {
        if (!text.includes('pg_notify')) return real.query(text, values);
        notifies++;
        if (notifies === 1) {
          // The announcement: committed before the LISTEN, its answer seen after it.
          const result = await real.query(text, values);
          firstNotifyDone();
          await until(() => events.connected, 'LISTEN done');
          await sleep(1);
          return result;
        }
        if (notifies === 2) throw Object.assign(new Error('terminating connection'), { code: '57P01' });
        return real.query(text, values);
      },
      connect: () => real.connect(),
      end: () => real.end(),
      on: () => undefined,
    };
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_f, message) => void warnings.push(String(message)) };
    const events: PostgresEventBroker = new PostgresEventBroker({
      pool: pool as never,
      connect: () => {
        const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
        const connect = client.connect.bind(client);
        // The LISTEN connection is made only once the announcement's NOTIFY has committed.
        (client as unknown as { connect: () => Promise<void> }).connect = async () => {
          await firstNotify;
          await connect();
        };
        return client as never;
      },
      channel,
      logger,
      checkEveryMs: 200,
    });
    try {
      const started = events.start();
      events.subscribe(() => {}, '*'); // a scheduler's subscription: an announcement goes out at once
      await started;
      await until(() => notifies >= 2, 'the flush carrying the question failed');
      // Time for a check started by the first NOTIFY to run out (on a slow machine this can only
      // pass wrongly, never fail wrongly).
      await sleep(600);
      expect(warnings.filter((message) => /hears no notifications/.test(message))).toEqual([]);
    } finally {
      await events.stop();
      await real.end();
    }
  });
});

describe('Scheduler on PostgreSQL when its LISTEN connection comes back', () => {
  it('looks at the store then: a job added while it was down starts without waiting for the poll', async () => {
    const schema = freshSchema('b_wake');
    schemas.push(schema);
    const workerStore = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    const node = (name: string, store: PostgresStore) =>
      new Scheduler({ store, nodeId: name, logger: silentLogger, pollInterval: '1h' });
    const worker = node('worker', workerStore);
    const web = node('web', new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }));
    const ran = new Set<string>();
    worker.task('t', (ctx) => void ran.add(ctx.jobId));
    web.task('t', () => {});
    try {
      await worker.start();
      await web.ready(); // adds jobs, never runs any
      const listening = workerStore.defaultEventBroker() as PostgresEventBroker;
      const { rows } = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query = $1`, [
        `LISTEN "kairos_${schema}"`,
      ]);
      await terminate(rows.map((row) => row.pid));
      await until(() => !listening.connected, "the worker's LISTEN connection is down");
      const id = await web.addJob('t'); // its NOTIFY reaches no one
      await until(() => ran.has(id), 'the job runs once the worker is back');
    } finally {
      await worker.stop();
      await web.stop();
    }
  });
});

describe('Schedulers sharing one PostgresStore', () => {
  it('one stopping leaves the other listening: a job added by another node still wakes it', async () => {
    const schema = freshSchema('b_shared');
    schemas.push(schema);
    const shared = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    // With an hour between polls, only a NOTIFY gets a job started within the wait.
    const node = (name: string, store: PostgresStore) =>
      new Scheduler({ store, nodeId: name, logger: silentLogger, pollInterval: '1h' });
    const leaving = node('leaving', shared);
    const staying = node('staying', shared);
    const web = node('web', new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 }));
    const ran = new Set<string>();
    leaving.task('t', () => {});
    staying.task('t', (ctx) => void ran.add(ctx.jobId));
    web.task('t', () => {});
    try {
      await leaving.start();
      await staying.start();
      await web.ready();
      await leaving.stop();
      expect((shared.defaultEventBroker() as PostgresEventBroker).connected).toBe(true);
      const id = await web.addJob('t');
      await until(() => ran.has(id), 'the job runs on the scheduler still started');
      // And the one that left may come back while the other runs.
      await leaving.start();
      await staying.stop();
      expect((shared.defaultEventBroker() as PostgresEventBroker).connected).toBe(true);
      const again = await web.addJob('t');
      await until(async () => (await web.getExecutions({ jobId: again })).items.length === 1, 'it runs on the other');
    } finally {
      await leaving.stop();
      await staying.stop();
      await web.stop();
    }
  });
});

describe('PostgresStore stopped while another scheduler starts on it', () => {
  it('keeps its LISTEN connection for a scheduler that started the broker during the stop', async () => {
    const schema = freshSchema('b_race');
    schemas.push(schema);
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    const broker = store.defaultEventBroker() as PostgresEventBroker;
    const context = (events: PostgresEventBroker) => ({
      events,
      clock: systemClock,
      logger: silentLogger,
      wake: () => {},
    });
    // What a scheduler's start and stop do with the store (see StoreSession): the broker first.
    const first = context(broker);
    await broker.start();
    await store.start(first);
    const stopping = store.stop(first); // the last user leaves: the store ends its pool, after a flush
    await broker.start(); // meanwhile another scheduler starts; it joins the store once listening
    await stopping;
    await broker.stop(); // the first scheduler's session stops the broker after the store
    const second = context(broker);
    try {
      await store.start(second);
      expect(broker.connected).toBe(true);
      expect(await store.now()).toBeInstanceOf(Date); // and the pool still answers
    } finally {
      await store.stop(second);
      await broker.stop();
    }
    expect(broker.connected).toBe(false);
  });

  it("keeps it for a scheduler that starts after the store closed the broker, before the leaving one's own stop", async () => {
    const schema = freshSchema('b_owed');
    schemas.push(schema);
    const store = new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 3 });
    const broker = store.defaultEventBroker() as PostgresEventBroker;
    const context = () => ({ events: broker, clock: systemClock, logger: silentLogger, wake: () => {} });
    const first = context();
    await broker.start();
    await store.start(first);
    await store.stop(first); // the leaving scheduler's session: the store (which closes the broker)...
    await broker.start(); // ...another scheduler starts...
    const second = context();
    await store.start(second);
    await broker.stop(); // ...then the leaving session's stop of the broker, which it no longer uses
    try {
      expect(broker.connected).toBe(true);
      expect(broker.users).toBe(1);
    } finally {
      await store.stop(second);
      await broker.stop();
    }
    expect(broker.connected).toBe(false);
  });
});
