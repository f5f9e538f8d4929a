import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../../../src/common/logger.ts';
import { PostgresEventBroker, PostgresStore } from '../../../src/postgres.ts';
import { migrationLockKey } from '../../../src/stores/postgres/postgres-migrations.ts';
import { Scheduler } from '../../../src/scheduler/scheduler.ts';
import { until } from '../../support/child-node.ts';
import { hasPgBouncer, PgBouncer } from '../../support/pgbouncer.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from './pg-test-database.ts';

const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

// `.ci/run` installs PgBouncer (and sets CI): there these tests never skip.
describe.skipIf(!hasPgBouncer && process.env.CI === undefined)(
  'PostgresStore behind PgBouncer in transaction mode',
  () => {
    let bouncer: PgBouncer;
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    beforeAll(async () => {
      // PgBouncer passes no statement_timeout on from clients: set on its server connections, as a
      // fleet would (or for the role), at 90% of Kairos's default queryTimeout.
      bouncer = await PgBouncer.start(3, 'SET statement_timeout = 27000');
      await admin.connect();
      return async () => {
        await admin.end();
        await bouncer.stop();
      };
    });
    /** An application's pool through PgBouncer; `warm` opens that many server connections at once first. */
    const bouncedPool = async (warm = 3) => {
      const pool = new pg.Pool({ connectionString: bouncer.connectionString, max: 4 });
      await Promise.all(Array.from({ length: warm }, () => pool.query('SELECT pg_sleep(0.05)')));
      return pool;
    };
    const bouncedStore = (pool: pg.Pool, schema: string) =>
      new PostgresStore({ pool, schema, preparedStatements: false, listenConnectionString: TEST_DATABASE_URL });

    it('migrate without leaving their lock held on a pooled server connection, so the next node starts', async () => {
      const schema = freshSchema('bouncer_migrate');
      schemas.push(schema);
      const pool = await bouncedPool();
      try {
        expect(await bouncedStore(pool, schema).migrate()).toEqual([1, 2, 3, 4, 5]);
        // A session-level lock taken in one transaction and "released" in another stays held on the
        // server connection of the first: free, this session can take it.
        const key = migrationLockKey(schema);
        const { rows } = await admin.query<{ free: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS free', [
          key,
        ]);
        expect(rows[0]?.free).toBe(true);
        await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
        expect(await bouncedStore(pool, schema).migrate()).toEqual([]); // another node starting
      } finally {
        await pool.end();
      }
    });

    it("wait for another node's migration without holding its server connections: other traffic goes on", async () => {
      const schema = freshSchema('bouncer_wait');
      schemas.push(schema);
      // Another node migrates (a long index build, say): it holds the migration lock.
      const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await other.connect();
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtext($1))', [migrationLockKey(schema)]);
      // More nodes start than PgBouncer has server connections (3), each on a pool of its own.
      const pools = Array.from(
        { length: 4 },
        () => new pg.Pool({ connectionString: bouncer.connectionString, max: 1 }),
      );
      const app = new pg.Client({ connectionString: bouncer.connectionString });
      try {
        const migrating = pools.map((pool) => bouncedStore(pool, schema).migrate());
        await new Promise((resolve) => setTimeout(resolve, 300)); // time for them to start waiting
        await app.connect();
        const answered = app.query('SELECT 1').then(() => 'answered');
        const waited = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5000));
        expect(await Promise.race([answered, waited])).toBe('answered');
        await other.query('COMMIT');
        const applied = await Promise.all(migrating);
        expect(applied.flat().sort()).toEqual([1, 2, 3, 4, 5]); // each migration once, by one node
      } finally {
        await other.query('ROLLBACK').catch(() => {});
        await other.end();
        await app.end();
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    it('run two nodes: jobs added on one start on the other through NOTIFY, each once; a schedule fires once a second', async () => {
      const schema = freshSchema('bouncer_nodes');
      schemas.push(schema);
      const pools = [await bouncedPool(), await bouncedPool(0)];
      // With an hour between polls, only a NOTIFY gets a job started within the wait.
      const [web, worker] = pools.map(
        (pool, index) =>
          new Scheduler({
            store: bouncedStore(pool, schema),
            nodeId: `node-${index}`,
            logger: silentLogger,
            pollInterval: '1h',
          }),
      ) as [Scheduler, Scheduler];
      const ran: string[] = [];
      const fired: number[] = [];
      worker.task('work', (ctx) => void ran.push(ctx.jobId));
      web.task('work', () => {});
      for (const node of [web, worker]) node.task('tick', (ctx) => void fired.push(ctx.fireTime?.getTime() ?? 0));
      try {
        await worker.start();
        await web.ready(); // adds jobs, runs none
        const ids: string[] = [];
        for (let n = 0; n < 20; n++) ids.push(await web.addJob('work', { args: { n } }));
        await until(() => ran.length >= 20, 'the worker ran the 20 jobs added on the other node', 10_000, 10);
        expect([...ran].sort()).toEqual([...ids].sort());
        await web.start();
        await web.addSchedule('tick', { type: 'interval', seconds: 1 }, { id: 'tick' });
        await until(() => fired.length >= 3, 'three fires', 10_000, 10);
        await web.pauseSchedule('tick');
        await until(async () => (await web.getJobs()).items.length === 0, 'every job done', 10_000, 10);
        expect(new Set(fired).size).toBe(fired.length);
        const history = (await web.getExecutions({ limit: 100 })).items;
        expect(history.filter((e) => e.outcome !== 'succeeded')).toEqual([]);
      } finally {
        await web.stop();
        await worker.stop();
        for (const pool of pools) await pool.end();
      }
    });

    /** Starts a scheduler on a store with a pool of its own through `connectionString`; runs one job. */
    const runOnOwnPool = async (connectionString: string, schema: string) => {
      schemas.push(schema);
      const logged = { info: [] as string[], warn: [] as string[] };
      const scheduler = new Scheduler({
        store: new PostgresStore({
          connectionString,
          schema,
          preparedStatements: false,
          listenConnectionString: TEST_DATABASE_URL,
        }),
        logger: {
          ...silentLogger,
          info: (_fields, message) => logged.info.push(String(message)),
          // (This machine's server may run without autovacuum, which the store warns about too.)
          warn: (fields, message) => void (!('autovacuum' in fields) && logged.warn.push(String(message))),
        },
      });
      let ran = 0;
      scheduler.task('work', () => void ran++);
      try {
        await scheduler.start();
        await scheduler.addJob('work');
        await until(() => ran === 1, 'the job ran', 10_000, 10);
      } finally {
        await scheduler.stop();
      }
      return logged;
    };

    it("start on a pool of their own through it, connecting without the statement_timeout PgBouncer refuses, and keep the server's", async () => {
      const logged = await runOnOwnPool(bouncer.connectionString, freshSchema('bouncer_own'));
      expect(
        logged.info.filter((message) => /refused the statement_timeout.*connecting without it/.test(message)),
      ).toHaveLength(1);
      expect(logged.warn).toEqual([]); // its server connections set one (connect_query)
    });

    it('start on a pool of their own through it where the server sets no statement_timeout, and warn where to set one', async () => {
      const bare = await PgBouncer.start(2);
      try {
        const logged = await runOnOwnPool(bare.connectionString, freshSchema('bouncer_own_bare'));
        expect(logged.warn).toHaveLength(1);
        expect(logged.warn[0]).toMatch(
          /refused the statement_timeout.*without a limit.*ALTER ROLE … SET statement_timeout = 27000/,
        );
      } finally {
        await bare.stop();
      }
    });

    it('refuse to start on a pool of the application that sends a setting PgBouncer refuses, and name it', async () => {
      const pool = new pg.Pool({ connectionString: bouncer.connectionString, options: '-c search_path=public' });
      const store = new PostgresStore({ pool, schema: freshSchema('bouncer_options') });
      try {
        await expect(store.migrate()).rejects.toThrow(/refused the setting options .*ignore_startup_parameters/);
      } finally {
        await store.stop();
        await pool.end();
      }
    });

    it('send their statements unnamed once named ones keep being refused (preparedStatements left on), and say so once', async () => {
      const schema = freshSchema('bouncer_named');
      schemas.push(schema);
      const pool = await bouncedPool();
      const warnings: string[] = [];
      const store = new PostgresStore({ pool, schema, listenConnectionString: TEST_DATABASE_URL });
      const scheduler = new Scheduler({
        store,
        logger: { ...silentLogger, warn: (_fields, message) => warnings.push(String(message)) },
        pollInterval: '1h',
      });
      scheduler.task('work', () => {});
      try {
        await scheduler.ready(); // adds jobs, runs none
        // A statement prepared on one server connection is unknown on the next one, and known
        // already on a third where another client prepared it.
        for (let round = 0; round < 5; round++) {
          const added = await Promise.allSettled(Array.from({ length: 8 }, () => scheduler.addJob('work')));
          expect(added.filter((result) => result.status === 'rejected')).toEqual([]);
          expect((await scheduler.getJobs({ limit: 100 })).items).toHaveLength(8 * (round + 1));
        }
        expect(warnings.filter((message) => /preparedStatements: false/.test(message))).toHaveLength(1);
      } finally {
        await scheduler.stop();
        await pool.end();
      }
    });

    it('add jobs inside an application transaction through it: gone with a rollback, kept with a commit', async () => {
      const schema = freshSchema('bouncer_tx');
      schemas.push(schema);
      const pool = await bouncedPool();
      const scheduler = new Scheduler({ store: bouncedStore(pool, schema), logger: silentLogger, pollInterval: '1h' });
      scheduler.task('work', () => {});
      const inTransaction = async (end: 'COMMIT' | 'ROLLBACK') => {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          const id = await scheduler.addJob('work', { tx: client });
          await client.query(end);
          return id;
        } finally {
          client.release();
        }
      };
      try {
        await scheduler.ready();
        const dropped = await inTransaction('ROLLBACK');
        const kept = await inTransaction('COMMIT');
        expect(await scheduler.getJob(dropped)).toBeNull();
        expect(await scheduler.getJob(kept)).not.toBeNull();
      } finally {
        await scheduler.stop();
        await pool.end();
      }
    });

    it('can be migrated through it with `kairos migrate`', async () => {
      const schema = freshSchema('bouncer_cli');
      schemas.push(schema);
      const cli = spawnSync(
        process.execPath,
        [
          '--conditions=kairos-source',
          'src/cli/main.ts',
          'migrate',
          '--postgres',
          bouncer.connectionString,
          '--schema',
          schema,
        ],
        { cwd: fileURLToPath(new URL('../../../', import.meta.url)), encoding: 'utf8' },
      );
      expect(cli.stderr).toBe('');
      expect(cli.stdout).toBe(`schema ${schema}: applied migration(s) 1, 2, 3, 4, 5; version 5\n`);
    });

    it('warn when their LISTEN connection hears nothing, and say to give listenConnectionString', async () => {
      const pool = await bouncedPool(0);
      const warnings = { straight: [] as string[], bounced: [] as string[] };
      const logger = (into: string[]): Logger => ({
        ...silentLogger,
        warn: (_fields, message) => into.push(String(message)),
      });
      const channel = `kairos_${freshSchema('bouncer_listen')}`;
      const broker = (connectionString: string, into: string[]) =>
        new PostgresEventBroker({
          pool: pool as never,
          connect: () => new pg.Client({ connectionString }) as never,
          channel,
          logger: logger(into),
          checkEveryMs: 300,
        });
      const straight = broker(TEST_DATABASE_URL, warnings.straight);
      const bounced = broker(bouncer.connectionString, warnings.bounced);
      try {
        await straight.start();
        await bounced.start();
        expect(bounced.connected).toBe(true); // its LISTEN went through
        await until(() => warnings.bounced.length > 0, 'the broker behind PgBouncer warns', 5000, 10);
        expect(warnings.bounced[0]).toMatch(/hears no notifications.*listenConnectionString/);
        expect(bounced.hearing).toBe(false);
        await until(() => straight.hearing, 'the broker listening straight to PostgreSQL hears itself', 5000, 10);
        expect(warnings.straight).toEqual([]);
      } finally {
        await bounced.stop();
        await straight.stop();
        await pool.end();
      }
    });
  },
);
