import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/common/logger.ts';
import { StoreError, ValidationError } from '../../../src/errors.ts';
import { PostgresEventBroker, PostgresStore } from '../../../src/postgres.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { LocalEventBroker } from '../../../src/events/local-event-broker.ts';
import { systemClock } from '../../../src/time/clock.ts';
import { until } from '../../support/child-node.ts';
import { runsUntilStopped } from '../../support/runs-until-stopped.ts';
import { TcpProxy } from '../../support/tcp-proxy.ts';
import { poolConnectionSettings } from '../../../src/stores/postgres/pg-driver.ts';
import { jobFixture, TASKS } from '../conformance/harness.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/**
 * A broker on `channel` whose NOTIFYs go through `pool` (its LISTEN connection straight to the
 * server), the warnings it logs, and a raw LISTEN on the channel that keeps what it hears.
 */
async function brokerAndSpy(pool: pg.Pool, channel: string) {
  const warnings: string[] = [];
  const broker = new PostgresEventBroker({
    pool,
    connect: () => new pg.Client({ connectionString: TEST_DATABASE_URL }),
    channel,
    logger: { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') },
  });
  const spy = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await spy.connect();
  await spy.query(`LISTEN "${channel}"`);
  const payloads: string[] = [];
  spy.on('notification', (message) => payloads.push(message.payload ?? ''));
  return { broker, spy, payloads, warnings };
}

describe('PostgresStore when connections fail', () => {
  it('a connection lost inside one of its transactions fails that call, and nothing else: no uncaught error', async () => {
    const schema = freshSchema('lost');
    schemas.push(schema);
    const application = `lost_${schema}`.slice(0, 60);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, application_name: application });
    const store = new PostgresStore({ pool, schema });
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    // The application's own session holds the job's row, so the store's transaction waits on it.
    const locker = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await locker.connect();
    const uncaught: unknown[] = [];
    const vitestListeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', (error) => uncaught.push(error));
    try {
      await store.migrate();
      const job = jobFixture({ runAt: new Date(Date.now() + 3_600_000) });
      await store.addJob(job);
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${schema}".jobs WHERE id = $1 FOR UPDATE`, [job.id]);
      const cancel = store.requestCancel(job.id, 'node-1');
      const waiting = async () =>
        (
          await admin.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [application],
          )
        ).rows;
      await until(async () => (await waiting()).length === 1, 'the transaction waits on the row', 5000, 10);
      const [{ pid }] = (await waiting()) as [{ pid: number }];
      await admin.query('SELECT pg_terminate_backend($1)', [pid]); // as a database restart or failover would
      await expect(cancel).rejects.toBeInstanceOf(StoreError);
      // The lost client is closed and dropped from the pool once its socket has ended.
      await until(
        async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [pid])).rows.length === 0,
        'the backend is gone',
        5000,
        10,
      );
      await until(() => pool.totalCount <= 1, 'the pool dropped the lost client', 5000, 10);
      await locker.query('ROLLBACK');
      expect(await store.requestCancel(job.id, 'node-1')).toMatchObject({ status: 'cancelled' });
      expect(uncaught).toEqual([]);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of vitestListeners) process.on('uncaughtException', listener);
      await locker.end();
      await admin.end();
      await pool.end();
    }
  });

  it("runs a transaction again when another node's migration changed a prepared statement's columns", async () => {
    const schema = freshSchema('stale');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const store = new PostgresStore({ pool, schema });
    try {
      await store.migrate();
      await store.addJob(jobFixture({ runAt: new Date(Date.now() + 3_600_000) }));
      await store.reapAbandoned(); // a transaction whose `SELECT *` is now prepared on the connection
      await pool.query(`ALTER TABLE "${schema}".jobs ADD COLUMN added_later integer`);
      await expect(store.reapAbandoned()).resolves.toBeDefined();
      await pool.query('DEALLOCATE ALL'); // a pooler's reset: the statements are gone
      await expect(store.reapAbandoned()).resolves.toBeDefined();
    } finally {
      await pool.end();
    }
  });
});

describe('PostgresEventBroker announcing what its listeners want', () => {
  it('asks for every run outcome when the capped tasks it waits for are too many to name in one NOTIFY', async () => {
    const channel = `kairos_${freshSchema('announce')}`;
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
    const { broker, spy, payloads, warnings } = await brokerAndSpy(pool, channel);
    try {
      await broker.start();
      // 40 capped tasks with names of the longest length allowed (200): about 8,400 bytes to name.
      const keys = Array.from(
        { length: 40 },
        (_, i) => `finished:${'t'.repeat(197)}${String(i).padStart(3, '0')}` as const,
      );
      broker.subscribe(() => {}, keys);
      broker.publish({
        type: 'job.added',
        timestamp: new Date(),
        jobId: 'sent-with-the-announcement',
        task: 't',
        scheduleId: null,
        fireTime: null,
        runAt: new Date(),
        leasedTo: null,
      });
      await until(
        () => payloads.some((payload) => payload.includes('sent-with-the-announcement')),
        'the event sent in the same flush arrives',
        5000,
        10,
      );
      const announcement = payloads.find((payload) => payload.includes('|!'));
      expect(announcement).toBeDefined();
      const wanted = JSON.parse((announcement as string).slice((announcement as string).indexOf('|!') + 2)) as string[];
      expect(wanted).toEqual(expect.arrayContaining(['job.succeeded', 'job.failed', 'job.abandoned']));
      expect(wanted.some((key) => key.startsWith('finished:'))).toBe(false);
      expect(warnings).toEqual([]);
    } finally {
      await broker.stop();
      await spy.end();
      await pool.end();
    }
  });
});

describe('PostgresEventBroker when a NOTIFY fails', () => {
  it('sends its announcement again soon, not with its repeat minutes later', async () => {
    const channel = `kairos_${freshSchema('again')}`;
    const proxy = new TcpProxy('127.0.0.1', 5432);
    // Its NOTIFYs go through the proxy, within 300 ms; its LISTEN connection does not.
    const pool = new pg.Pool({ connectionString: await proxy.start(), max: 1, query_timeout: 300 });
    pool.on('error', () => {});
    const { broker, spy, payloads, warnings } = await brokerAndSpy(pool, channel);
    try {
      await broker.start();
      await until(() => payloads.some((payload) => payload.endsWith('|?')), 'its question went out', 5000, 10);
      expect(proxy.silence()).toBe(1); // the pool's connection; new ones work
      broker.subscribe(() => {}, ['job.failed']);
      await until(
        () => warnings.includes('PostgresEventBroker: could not notify other nodes'),
        'the NOTIFY with the announcement failed',
        5000,
        10,
      );
      await until(
        () => payloads.some((payload) => payload.includes('|!') && payload.includes('job.failed')),
        'the announcement arrives',
        10_000,
        10,
      );
    } finally {
      await broker.stop();
      await spy.end();
      await pool.end();
      await proxy.stop();
    }
  });
});

describe('PostgresStore made from a connection string', () => {
  it('serves a scheduler started again after stop() closed its pool', async () => {
    const schema = freshSchema('restart');
    schemas.push(schema);
    const scheduler = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
      logger: silentLogger,
    });
    const ran: string[] = [];
    scheduler.task('t', (ctx) => void ran.push(ctx.jobId));
    try {
      await scheduler.start();
      const first = await scheduler.addJob('t');
      await until(() => ran.includes(first), 'the first job runs', 5000, 10);
      await scheduler.stop();
      await scheduler.start();
      const second = await scheduler.addJob('t');
      await until(() => ran.includes(second), 'a job runs after the restart', 5000, 10);
    } finally {
      await scheduler.stop();
    }
  });
});

describe('PostgresStore when its connections go silent (a failover that leaves the old sockets open)', () => {
  it('drops the connections that stopped answering, makes new ones and runs what was added meanwhile', async () => {
    const schema = freshSchema('silent');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const throughProxy = await proxy.start();
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    // An hour's poll: after the silence, only the store's own recovery can bring the next job in.
    const store = new PostgresStore({ connectionString: throughProxy, schema, poolSize: 2, queryTimeout: '1s' });
    const broker = store.defaultEventBroker() as PostgresEventBroker;
    const node = new Scheduler({
      store,
      logger,
      pollInterval: '1h',
    });
    const producer = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 1 }),
      logger: silentLogger,
    });
    const ran: string[] = [];
    node.task('t', (ctx) => void ran.push(ctx.jobId));
    producer.task('t', () => {});
    try {
      await node.start();
      await producer.ready();
      const before = await producer.addJob('t');
      await until(() => ran.includes(before), 'a job runs before the silence', 10_000, 10);
      expect(proxy.silence()).toBeGreaterThanOrEqual(2); // the pool's connection(s) and the LISTEN one
      const after = await producer.addJob('t');
      await until(() => ran.includes(after), 'the job added during the silence runs', 30_000, 20);
      // The LISTEN connection only reads: the broker's check finds it silent, and it is made again.
      await until(
        () => warnings.includes('PostgresEventBroker: lost the LISTEN connection; reconnecting'),
        'the silent LISTEN connection is dropped',
        30_000,
        20,
      );
      await until(() => broker.connected, 'listening again', 30_000, 20);
      const last = await producer.addJob('t');
      await until(() => ran.includes(last), 'a job added afterwards runs', 30_000, 20);
    } finally {
      await node.stop();
      await producer.stop();
      await proxy.stop();
    }
  });
});

describe('PostgresStore renewing leases on a connection that went silent', () => {
  it('gives the renewal up after a quarter of the lease, not queryTimeout, so the next try comes in time', async () => {
    const schema = freshSchema('renewal');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const store = new PostgresStore({
      connectionString: await proxy.start(),
      schema,
      poolSize: 1,
      queryTimeout: '60s',
    });
    try {
      await store.start({ events: new LocalEventBroker(), clock: systemClock, logger: silentLogger, wake: () => {} });
      await store.addJob(jobFixture({ runAt: new Date(Date.now() - 1000) }));
      const { jobs } = await store.acquireJobs('n1', { leaseMs: 8000, limit: 1, tasks: TASKS });
      const held = jobs.map((job) => ({ id: job.id, attempt: job.attempt }));
      expect(held).toHaveLength(1);
      expect(await store.extendLeases('n1', 8000, held)).toEqual({ lost: [], cancelRequested: [] });
      proxy.silence(); // the renewals' connection (and the pool's); new ones work
      // Waiting the 60 s queryTimeout would outlast the lease (and this test).
      await expect(store.extendLeases('n1', 8000, held)).rejects.toThrow(/renew leases/);
      expect(await store.extendLeases('n1', 8000, held)).toEqual({ lost: [], cancelRequested: [] });
    } finally {
      await proxy.stop();
      await store.stop();
    }
  });
});

describe('Lease renewals while the pool is busy', () => {
  it("renew on a connection of their own: the application's queries filling the pool it gave do not hold them back", async () => {
    const schema = freshSchema('lane');
    schemas.push(schema);
    const application = `app_${schema}`.slice(0, 60);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2, application_name: application });
    const scheduler = new Scheduler({
      store: new PostgresStore({ pool, schema }),
      logger: silentLogger,
      leaseDuration: '2s', // renewed every second; the application holds every connection for 4 s
      shutdownTimeout: '100ms', // the task ends when told to stop
    });
    const runs = runsUntilStopped([scheduler], 'long');
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const lease = async (id: string) =>
      (
        await admin.query<{ until: Date }>(`SELECT acquired_until AS until FROM "${schema}".jobs WHERE id = $1`, [id])
      ).rows[0]?.until.getTime() ?? 0;
    let busy: Promise<unknown> = Promise.resolve();
    try {
      await scheduler.start();
      const id = await scheduler.addJob('long');
      await until(() => runs.length === 1, 'the job runs', 10_000, 10);
      let busyDone = false;
      // (Cancelled when the test ends: caught at once, so the cancel is no unhandled rejection.)
      busy = Promise.all([1, 2, 3].map(() => pool.query('SELECT pg_sleep(4)'))).then(
        () => (busyDone = true),
        () => undefined,
      );
      await until(() => pool.waitingCount > 0, 'the pool is full and queries wait', 5000, 5);
      // Renewed after the pool filled up, while its queries still wait (the last one for 8 s).
      const filledAt = Date.now();
      await until(async () => (await lease(id)) > filledAt + 2000 + 500, 'the lease is renewed', 10_000, 20);
      expect(busyDone).toBe(false);
      expect(runs[0]?.stopped).toBeUndefined();
    } finally {
      await scheduler.stop();
      const cancelled = async () =>
        (
          await admin.query(
            `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
            [application],
          )
        ).rows.length === 0;
      await until(cancelled, "the application's queries are cancelled", 10_000, 20);
      await busy;
      await admin.end();
      await pool.end();
    }
  }, 30_000);
});

describe('A node cut off from the database while it runs a job', () => {
  it('stops the job when its lease runs out, before the node that takes it over starts it again', async () => {
    const schema = freshSchema('partition');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const throughProxy = await proxy.start();
    const node = (name: string, connectionString: string) =>
      new Scheduler({
        store: new PostgresStore({ connectionString, schema, poolSize: 2, queryTimeout: '10s' }),
        nodeId: name,
        logger: silentLogger,
        leaseDuration: '2s', // renewed every second
        shutdownTimeout: '100ms', // the task ends when told to stop
      });
    const cutOff = node('cut-off', throughProxy);
    const other = node('other', TEST_DATABASE_URL);
    const runs = runsUntilStopped([cutOff, other], 'long');
    const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const lease = async (id: string) =>
      (
        await admin.query<{ until: Date }>(`SELECT acquired_until AS until FROM "${schema}".jobs WHERE id = $1`, [id])
      ).rows[0]?.until.getTime() ?? 0;
    try {
      await cutOff.start();
      const id = await cutOff.addJob('long');
      await until(() => runs.length === 1, 'the job runs on the node about to be cut off', 10_000, 10);
      const claimed = await lease(id);
      await until(async () => (await lease(id)) > claimed, 'its lease was renewed', 10_000, 20);
      proxy.silenceAfterStartup(); // new connections reach nothing either: a partition
      proxy.silence();
      await other.start();
      await until(() => runs.length === 2, 'the other node runs the job again', 20_000, 10);
      const [first, second] = runs as [(typeof runs)[number], (typeof runs)[number]];
      expect([first.node, first.attempt, second.node, second.attempt]).toEqual(['cut-off', 1, 'other', 2]);
      expect(first.stopped?.kind).toBe('lease_lost');
      expect(first.stopped?.at).toBeLessThanOrEqual(second.startedAt);
      expect((await other.getExecutions({ jobId: id })).items.map((e) => [e.attempt, e.outcome])).toEqual([
        [1, 'abandoned'],
      ]);
    } finally {
      await other.stop();
      await proxy.stop(); // the cut-off node's connections fail at once, instead of waiting for answers
      await cutOff.stop();
      await admin.end();
    }
  }, 60_000);

  it('with no other node about, runs the job again once it reaches the database again', async () => {
    const schema = freshSchema('rejoin');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const alone = new Scheduler({
      store: new PostgresStore({ connectionString: await proxy.start(), schema, poolSize: 2, queryTimeout: '2s' }),
      nodeId: 'alone',
      logger: silentLogger,
      leaseDuration: '2s',
      shutdownTimeout: '100ms',
    });
    const runs = runsUntilStopped([alone], 'long');
    try {
      await alone.start();
      const id = await alone.addJob('long');
      await until(() => runs.length === 1, 'the job runs', 10_000, 10);
      proxy.silenceAfterStartup();
      proxy.silence();
      await until(() => runs[0]?.stopped !== undefined, 'the job is stopped when its lease runs out', 10_000, 10);
      expect(runs[0]?.stopped?.kind).toBe('lease_lost');
      proxy.restore(); // new connections work again; the silent ones are dropped as their statements time out
      await until(() => runs.length === 2, 'the job runs again', 30_000, 20);
      expect(runs[1]?.attempt).toBe(2);
      // Recorded once, by this node's own takeover of the lapsed lease.
      const executions = (await alone.getExecutions({ jobId: id })).items;
      expect(executions.map((e) => [e.attempt, e.outcome, e.node])).toEqual([[1, 'abandoned', 'alone']]);
    } finally {
      await proxy.stop();
      await alone.stop();
    }
  }, 60_000);
});

describe('PostgresStore options', () => {
  it("makes its own connections (LISTEN, lease renewals) with an application pool's settings, its password too", () => {
    // pg-pool keeps the password as a property that is not enumerable: a plain copy loses it.
    const makePassword = async () => 'token';
    for (const password of ['secret', makePassword]) {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, password, application_name: 'app' });
      expect(poolConnectionSettings(pool as never)).toMatchObject({ connectionString: TEST_DATABASE_URL, password });
      void pool.end();
    }
    expect(poolConnectionSettings({ query: async () => ({ rows: [] }) } as never)).toBeNull();
  });

  it('rejects what is not a duration, zero, and a pool size that is not a whole number of at least 1', () => {
    const make = (options: object) => () => new PostgresStore({ connectionString: TEST_DATABASE_URL, ...options });
    expect(make({ queryTimeout: 'soon' })).toThrow(/PostgresStore queryTimeout/);
    expect(make({ queryTimeout: 0 })).toThrow(/above zero/);
    expect(make({ poolSize: 0 })).toThrow(/PostgresStore poolSize: 0/);
    expect(make({ poolSize: 2.5 })).toThrow(ValidationError);
    expect(make({ queryTimeout: null, poolSize: 3 })).not.toThrow();
  });

  it('rejects a missing or doubled connection, a pool that is not one, and an empty LISTEN URL, naming each', () => {
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL });
    expect(() => new PostgresStore({})).toThrow(/PostgresStore options.*exactly one of `connectionString` and `pool`/);
    expect(() => new PostgresStore({ connectionString: TEST_DATABASE_URL, pool })).toThrow(/exactly one/);
    expect(() => new PostgresStore({ connectionString: '' })).toThrow(
      /PostgresStore connectionString: "".*postgres:\/\/ URL/,
    );
    expect(() => new PostgresStore({ pool: {} as never })).toThrow(/PostgresStore pool.*must be a pg Pool/);
    expect(() => new PostgresStore({ pool, listenConnectionString: '' })).toThrow(
      /PostgresStore listenConnectionString: ""/,
    );
    expect(() => new PostgresStore({ pool, schema: 'Bad-Name' })).toThrow(/PostgresStore schema: "Bad-Name"/);
    // Its NOTIFY channel, kairos_<schema>, would pass PostgreSQL's 63 characters.
    expect(() => new PostgresStore({ pool, schema: 's'.repeat(57) })).toThrow(/PostgresStore schema: "s{57}".*56/);
    expect(() => new PostgresStore({ pool, listenConnectionString: TEST_DATABASE_URL })).not.toThrow();
    void pool.end();
  });
});

describe('PostgresStore with the longest schema name it takes', () => {
  it('wakes a node through its NOTIFY channel when a job is added in a transaction', async () => {
    const schema = freshSchema('longest').padEnd(56, 'x');
    expect(schema).toHaveLength(56);
    schemas.push(schema);
    const scheduler = new Scheduler({
      store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
      logger: silentLogger,
      pollInterval: '1h', // only the NOTIFY can bring the job in time
    });
    const ran: string[] = [];
    scheduler.task('t', (ctx) => void ran.push(ctx.jobId));
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await client.connect();
    try {
      await scheduler.start();
      await client.query('BEGIN');
      const jobId = await scheduler.addJob('t', { tx: client });
      await client.query('COMMIT');
      await until(async () => ran.includes(jobId), 'the job ran', 10_000, 10);
    } finally {
      await client.end();
      await scheduler.stop();
    }
  });
});

describe('PostgresEventBroker on connections that go silent', () => {
  const brokerThrough = async (proxy: TcpProxy, warnings: string[] = []) => {
    const url = await proxy.start();
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => {});
    const broker = new PostgresEventBroker({
      pool,
      connect: () => new pg.Client({ connectionString: url }),
      channel: `kairos_${freshSchema('silentbroker')}`,
      logger: { ...silentLogger, warn: (_fields, message) => void warnings.push(message ?? '') },
      checkEveryMs: 300,
    });
    return { broker, pool };
  };

  it('stops although its LISTEN connection no longer answers', async () => {
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const { broker, pool } = await brokerThrough(proxy);
    try {
      await broker.start();
      expect(broker.connected).toBe(true);
      expect(proxy.silence()).toBe(1);
      await broker.stop(); // before: waited for the server's goodbye, which never comes
      expect(broker.connected).toBe(false);
    } finally {
      await pool.end();
      await proxy.stop();
    }
  });

  it('closes, when stopped, a LISTEN connection it is still making (else the process stays alive until it gives up)', async () => {
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const throughProxy = await proxy.start();
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const application = `listen_${freshSchema('making')}`.slice(0, 60);
    let connects = 0;
    const broker = new PostgresEventBroker({
      pool,
      // The first connection works; the one made after it is lost reaches a link that goes silent.
      connect: () =>
        new pg.Client({
          connectionString: connects++ === 0 ? TEST_DATABASE_URL : throughProxy,
          application_name: application,
        }),
      channel: `kairos_${freshSchema('making')}`,
      logger: silentLogger,
      checkEveryMs: 20_000, // how long its LISTEN would wait
    });
    try {
      await broker.start();
      expect(broker.connected).toBe(true);
      proxy.silenceAfterStartup();
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
        application,
      ]);
      await until(() => proxy.openConnections === 1 && !broker.connected, 'making a new LISTEN connection', 10_000, 10);
      await broker.stop();
      await until(() => proxy.openConnections === 0, 'the connection being made is closed', 10_000, 10);
      expect(connects).toBe(2);
    } finally {
      await broker.stop();
      await admin.end();
      await pool.end();
      await proxy.stop();
    }
  });

  it('starts, and listens once the link is back, when the connection goes silent right after connecting', async () => {
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const warnings: string[] = [];
    const { broker, pool } = await brokerThrough(proxy, warnings);
    try {
      proxy.silenceAfterStartup();
      await broker.start(); // before: its LISTEN waited for ever, and start() with it
      expect(broker.connected).toBe(false);
      expect(warnings).toContain('PostgresEventBroker: could not LISTEN; retrying');
      proxy.restore();
      await until(() => broker.connected, 'listening once the link is back', 20_000, 20);
    } finally {
      await broker.stop();
      await pool.end();
      await proxy.stop();
    }
  });
});

describe('PostgresStore queryTimeout on a pool of the application', () => {
  const due = async (pool: pg.Pool, schema: string) => {
    const store = new PostgresStore({ pool, schema, queryTimeout: '500ms' });
    const warnings: object[] = [];
    // (This machine's server may run without autovacuum, which the store warns about too.)
    const logger = {
      ...silentLogger,
      warn: (fields: object) => void (!('autovacuum' in fields) && warnings.push(fields)),
    };
    await store.start({ events: new LocalEventBroker(), clock: systemClock, logger, wake: () => {} });
    await store.addJob(jobFixture({ runAt: new Date(Date.now() - 1000) }));
    return { store, warnings };
  };

  it('is not applied without a statement_timeout below it: a claim slower than it is waited for, not left half done', async () => {
    const schema = freshSchema('usertimeout');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 3 });
    const { store, warnings } = await due(pool, schema);
    const locker = await pool.connect();
    try {
      expect(warnings).toEqual([{ statementTimeoutMs: 0, queryTimeoutMs: 500 }]);
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".jobs IN EXCLUSIVE MODE`);
      const claim = store.acquireJobs('n1', {
        leaseMs: 30_000,
        limit: 10,
        tasks: [{ name: 'task-a', maxRunningJobs: null }],
      });
      await new Promise((resolve) => setTimeout(resolve, 800)); // longer than queryTimeout
      await locker.query('COMMIT');
      // Before: the claim failed with "Query read timeout" and still leased the job on the server.
      expect((await claim).jobs).toHaveLength(1);
    } finally {
      locker.release();
      await store.stop();
      await pool.end();
    }
  });

  it('is not applied when the server would give up only just before it (no room for the round trip)', async () => {
    const schema = freshSchema('usertimeout');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 3, options: '-c statement_timeout=490' });
    const { store, warnings } = await due(pool, schema);
    try {
      expect(warnings).toEqual([{ statementTimeoutMs: 490, queryTimeoutMs: 500 }]);
    } finally {
      await store.stop();
      await pool.end();
    }
  });

  it('is applied when the pool has a statement_timeout below it, and no warning is logged', async () => {
    const schema = freshSchema('usertimeout');
    schemas.push(schema);
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 3, options: '-c statement_timeout=400' });
    const { store, warnings } = await due(pool, schema);
    const locker = await pool.connect();
    try {
      expect(warnings).toEqual([]);
      await locker.query('SET statement_timeout = 0');
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE "${schema}".jobs IN EXCLUSIVE MODE`);
      // The server cancels the claim first; nothing of it is left behind.
      await expect(
        store.acquireJobs('n1', { leaseMs: 30_000, limit: 10, tasks: [{ name: 'task-a', maxRunningJobs: null }] }),
      ).rejects.toThrow(/statement timeout/);
      await locker.query('COMMIT');
      expect((await store.getJobs({})).items.map((job) => job.status)).toEqual(['pending']);
    } finally {
      locker.release();
      await store.stop();
      await pool.end();
    }
  });
});

describe('Scheduler.stop() with shutdownTimeout 0, against a database that answers', () => {
  it('still leaves the cluster and closes its store before it returns, without a warning', async () => {
    const schema = freshSchema('stopzero');
    schemas.push(schema);
    const warnings: string[] = [];
    const errors: string[] = [];
    const logger = {
      ...silentLogger,
      warn: (_fields: object, message?: string) => void warnings.push(message ?? ''),
      error: (_fields: object, message?: string) => void errors.push(message ?? ''),
    };
    const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 4 });
    const node = new Scheduler({ store: new PostgresStore({ pool, schema }), logger, shutdownTimeout: 0 });
    node.task('t', () => {});
    try {
      await node.start();
      const jobId = await node.addJob('t');
      await until(async () => (await node.getExecutions({ jobId })).items.length === 1, 'a job ran', 10_000, 20);
      await node.stop();
      // The application ends its pool at once: nothing of the stop may still need it.
      await pool.end();
      expect(
        warnings.filter((message) => message.startsWith('stopped without') || message.includes('could not notify')),
      ).toEqual([]);
      expect(errors).toEqual([]);
      const nodes = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await nodes.connect();
      const { rows } = await nodes.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${schema}".nodes`);
      await nodes.end();
      expect(rows[0]?.n).toBe(0);
    } finally {
      await node.stop();
      if (!pool.ended) await pool.end();
    }
  });
});

describe('Scheduler.stop() against a database that stopped answering', () => {
  it('returns after its shutdown timeout, not after queryTimeout for each last statement; a start waits for the rest', async () => {
    const schema = freshSchema('stopsilent');
    schemas.push(schema);
    const proxy = new TcpProxy('127.0.0.1', 5432);
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_fields: object, message?: string) => void warnings.push(message ?? '') };
    const node = new Scheduler({
      store: new PostgresStore({ connectionString: await proxy.start(), schema, queryTimeout: '60s' }),
      logger,
      shutdownTimeout: '1s',
    });
    const ran: string[] = [];
    node.task('t', (ctx) => void ran.push(ctx.jobId));
    try {
      await node.start();
      const before = await node.addJob('t');
      await until(
        async () => (await node.getExecutions()).items.length === 1,
        'a job ran and was recorded',
        10_000,
        20,
      );
      expect(ran).toEqual([before]);
      proxy.silence();
      proxy.silenceAfterStartup();
      // Each of the stop's last statements (the loops', leaving the cluster, the last NOTIFY) would
      // otherwise wait the 60 s queryTimeout.
      const stopping = node.stop().then(() => 'stopped');
      const waited = new Promise((resolve) => setTimeout(() => resolve('still stopping'), 20_000));
      expect(await Promise.race([stopping, waited])).toBe('stopped');
      expect(node.state).toBe('stopped');
      expect(warnings.some((message) => message.startsWith('stopped without waiting any longer for the store'))).toBe(
        true,
      );
      // The database answers again: the stop's end (if still waiting) meets the broken connections,
      // and the node starts again and runs what is added, then and later, with no error.
      proxy.restore();
      proxy.breakSilenced();
      await node.start();
      const errors: string[] = [];
      node.on('scheduler.error', (event) => void errors.push(event.operation));
      for (const label of ['a job added after the restart runs', 'and one added after that']) {
        const after = await node.addJob('t');
        await until(() => ran.includes(after), label, 20_000, 20);
      }
      expect(errors).toEqual([]);
    } finally {
      await node.stop();
      await proxy.stop();
    }
  });
});
