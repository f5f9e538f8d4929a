// The transactional-enqueue scenario every ORM adapter must pass, against the real PostgreSQL
// server: an application creates a data set and enqueues its processing in one of its own
// transactions, with a real PostgresStore and Scheduler in a fresh schema.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KairosEvent, Scheduler, silentLogger, ValidationError } from '../../../src/index.ts';
import { PostgresStore, type PgQueryable } from '../../../src/postgres.ts';
import { dropSchemas, freshSchema, TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';

/** One transaction of the application, as the ORM runs it. */
export interface AppTransaction {
  /** `INSERT INTO datasets` with the ORM's own API, in the transaction. */
  insertDataset(id: string, rows: number): Promise<void>;
  /** What the application passes as `tx`: the adapter over the ORM's transaction (or a raw `pg` client). */
  tx: unknown;
}

/** The application's side of the test, opened on the schema where the `datasets` table is. */
export interface OrmApp {
  /** Runs `work` in one transaction: committed if it resolves, rolled back (and rethrown) if it throws. */
  transaction(work: (trx: AppTransaction) => Promise<void>): Promise<void>;
  /** Something of the ORM that is not a transaction, which the adapter must refuse (omit for raw pg). */
  notATransaction?: () => unknown;
  close(): Promise<void>;
}

export interface AdapterCase {
  name: string;
  /** A raw `pg` client needs no adapter, so there is no wrong handle to refuse. */
  raw?: boolean;
  /** The adapter reads rows on the session set to UTC, whatever the application's zone (Prisma). */
  readsInUtc?: boolean;
  open(schema: string): Promise<OrmApp>;
}

const EVENT_WAIT_MS = 15_000;

/** The application's sessions run in a zone away from UTC: Kairos's times must not depend on it. */
export const APP_TIME_ZONE = 'America/New_York';

/** The test database, for the application's ORM, on sessions in `APP_TIME_ZONE`. */
export const APP_DATABASE_URL = (() => {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c TimeZone=${APP_TIME_ZONE}`);
  return url.toString();
})();

class Rollback extends Error {
  constructor() {
    super('validation failed after the insert');
  }
}

export function transactionAdapterSuite(adapter: AdapterCase): void {
  describe(`transactional enqueue through ${adapter.name}`, () => {
    const schema = freshSchema(adapter.name.replace(/\W+/g, '_').toLowerCase());
    const events: KairosEvent[] = [];
    const processed: string[] = [];
    let scheduler: Scheduler;
    let app: OrmApp;
    let pool: pg.Pool;

    beforeAll(async () => {
      pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
      // A poll of an hour: a job added by a transaction can only be started this quickly because
      // the commit's NOTIFY wakes the scheduler.
      scheduler = new Scheduler({
        store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 4 }),
        logger: silentLogger,
        pollInterval: '1h',
      });
      scheduler.task('process-dataset', (_ctx, args: { setId: string }) => {
        processed.push(args.setId);
        return { setId: args.setId };
      });
      scheduler.on('*', (event) => events.push(event));
      await scheduler.ready(); // creates Kairos's tables in the schema, and LISTENs
      await pool.query(`CREATE TABLE "${schema}".datasets (id text PRIMARY KEY, rows integer NOT NULL)`);
      app = await adapter.open(schema);
      await scheduler.start();
    }, 60_000);

    afterAll(async () => {
      await scheduler?.stop();
      await app?.close();
      await pool?.end();
      await dropSchemas([schema]);
    });

    const datasetExists = async (id: string) =>
      (await pool.query(`SELECT 1 FROM "${schema}".datasets WHERE id = $1`, [id])).rowCount === 1;

    /** Resolves with the first event (already heard, or heard within the wait) that matches. */
    const heard = <K extends KairosEvent['type']>(type: K, match: (event: KairosEvent<K>) => boolean) =>
      expect
        .poll(() => events.find((event): event is KairosEvent<K> => event.type === type && match(event as never)), {
          timeout: EVENT_WAIT_MS,
          interval: 20,
        })
        .toBeDefined();

    /** The classic case: create a data set and enqueue its processing, atomically. */
    const createDataset = (setId: string, options: { fail?: boolean; jobId?: string } = {}) => {
      let jobId: string | undefined;
      const done = app.transaction(async (trx) => {
        await trx.insertDataset(setId, 42);
        jobId = await scheduler.addJob('process-dataset', { args: { setId }, tx: trx.tx, id: options.jobId });
        // Not visible outside the transaction before it commits.
        expect(await scheduler.getJob(jobId)).toBeNull();
        if (options.fail) throw new Rollback();
      });
      return done.then(() => jobId as string);
    };

    it('commits: the data set and its job exist, NOTIFY wakes the scheduler, and the job runs', async () => {
      const jobId = await createDataset('ds-commit');
      expect(await datasetExists('ds-commit')).toBe(true);
      await heard('job.added', (event) => event.jobId === jobId); // the commit's notification
      await heard('job.succeeded', (event) => event.execution.jobId === jobId);
      expect(processed).toContain('ds-commit');
      const executions = await scheduler.getExecutions({ jobId });
      expect(executions.items.map((execution) => execution.outcome)).toEqual(['succeeded']);
      expect(executions.items[0]?.result).toEqual({ setId: 'ds-commit' });
    });

    it('rolls back: neither the data set nor the job ever existed, and no job.added was heard', async () => {
      const jobId = 'rolled-back-job';
      await expect(createDataset('ds-rollback', { fail: true, jobId })).rejects.toBeInstanceOf(Rollback);
      expect(await datasetExists('ds-rollback')).toBe(false);
      expect(await scheduler.getJob(jobId)).toBeNull();
      // Notifications arrive in commit order: once a later transaction's job is announced, a
      // notification from the rolled-back one can no longer be on its way.
      const markerId = await createDataset('ds-after-rollback');
      await heard('job.added', (event) => event.jobId === markerId);
      await heard('job.succeeded', (event) => event.execution.jobId === markerId);
      expect(events.filter((event) => JSON.stringify(event).includes(jobId))).toEqual([]);
      expect(processed).not.toContain('ds-rollback');
      expect((await scheduler.getExecutions({ jobId })).items).toEqual([]);
      expect((await scheduler.getJobs()).items.filter((job) => job.id === jobId)).toEqual([]);
    });

    it('refuses a duplicate job id in the transaction (row count 0), and the transaction goes on', async () => {
      await app.transaction(async (trx) => {
        await trx.insertDataset('ds-dup', 1);
        await scheduler.addJob('process-dataset', { id: 'dup-job', args: { setId: 'ds-dup' }, tx: trx.tx });
        await expect(
          scheduler.addJob('process-dataset', { id: 'dup-job', args: { setId: 'ds-dup' }, tx: trx.tx }),
        ).rejects.toThrow(/already used/);
      });
      expect(await datasetExists('ds-dup')).toBe(true);
      await heard('job.succeeded', (event) => event.execution.jobId === 'dup-job');
      expect((await scheduler.getExecutions({ jobId: 'dup-job' })).items).toHaveLength(1);
    });

    it('adds, replaces and rolls back schedules in the transaction', async () => {
      await app.transaction(async (trx) => {
        await trx.insertDataset('ds-nightly', 7);
        await scheduler.addSchedule('process-dataset', '0 3 * * *', {
          id: 'nightly',
          args: { setId: 'v1' },
          tx: trx.tx,
        });
        // Same id again: replaced in place (an UPDATE ... RETURNING that uses some parameters twice).
        await scheduler.addSchedule('process-dataset', '30 3 * * *', {
          id: 'nightly',
          args: { setId: 'v2' },
          tx: trx.tx,
        });
        await expect(
          scheduler.addSchedule('process-dataset', '0 4 * * *', { id: 'nightly', conflict: 'error', tx: trx.tx }),
        ).rejects.toThrow(/nightly/);
      });
      const nightly = await scheduler.getSchedule('nightly');
      expect(nightly?.args).toEqual({ setId: 'v2' });
      // 03:30 in the scheduler's zone (UTC), whatever the zone of the session that wrote it.
      expect(nightly?.nextFireTime?.toISOString()).toMatch(/T03:30:00\.000Z$/);
      expect(nightly?.trigger).toMatchObject({ type: 'cron' });
      expect(nightly?.revision).toBe(2);
      await heard('schedule.added', (event) => event.scheduleId === 'nightly');

      await expect(
        app.transaction(async (trx) => {
          await scheduler.addSchedule('process-dataset', '0 5 * * *', { id: 'rolled-back-schedule', tx: trx.tx });
          throw new Rollback();
        }),
      ).rejects.toBeInstanceOf(Rollback);
      expect(await scheduler.getSchedule('rolled-back-schedule')).toBeNull();
    });

    it('answers like pg: rows by column name, $n used twice, a literal ?, row counts of writes', async () => {
      await app.transaction(async (trx) => {
        await trx.insertDataset('ds-shape-1', 1);
        await trx.insertDataset('ds-shape-2', 2);
        const client = trx.tx as PgQueryable;
        const session = await client.query<{ zone: string }>(`SELECT current_setting('TimeZone') AS zone`);
        // So the times below cross a zone (but for an adapter that sets UTC to read them).
        expect(session.rows).toEqual([{ zone: adapter.readsInUtc === true ? 'UTC' : APP_TIME_ZONE }]);
        const select = await client.query<{ some_value: number; other_text: string; again: number; q: string }>(
          `SELECT $1::int AS some_value, $2::text AS other_text, $1::int + 1 AS again, '?' AS q`,
          [7, 'what?'],
        );
        expect(select.rows).toEqual([{ some_value: 7, other_text: 'what?', again: 8, q: '?' }]);
        expect(select.rowCount).toBe(1);
        const update = await client.query(
          `UPDATE "${schema}".datasets SET rows = rows + 1 WHERE id = ANY($1::text[])`,
          [['ds-shape-1', 'ds-shape-2', 'ds-none']],
        );
        expect(update.rowCount).toBe(2);
        const none = await client.query(`DELETE FROM "${schema}".datasets WHERE id = $1`, ['ds-none']);
        expect(none.rowCount).toBe(0);
        const returning = await client.query<{ id: string; rows: number; at: Date }>(
          `UPDATE "${schema}".datasets SET rows = rows * 10 WHERE id = $1 RETURNING id, rows, $2::timestamptz AS at`,
          ['ds-shape-2', new Date('2030-01-02T03:04:05.006Z')],
        );
        expect(returning.rows).toEqual([{ id: 'ds-shape-2', rows: 30, at: new Date('2030-01-02T03:04:05.006Z') }]);
        expect(returning.rowCount).toBe(1);
      });
    });

    if (adapter.raw !== true) {
      it("refuses the ORM's handle outside a transaction, with a message that says what to pass", () => {
        expect(() => app.notATransaction?.()).toThrow(ValidationError);
        expect(() => app.notATransaction?.()).toThrow(/transaction/);
      });
    }
  });
}

/** A Kairos store on a fresh schema (not started), for the adapters' extra cases; dropped afterwards. */
export async function withKairos(
  label: string,
  work: (kairos: { scheduler: Scheduler; schema: string }) => Promise<void>,
): Promise<void> {
  const schema = freshSchema(label);
  const scheduler = new Scheduler({
    store: new PostgresStore({ connectionString: TEST_DATABASE_URL, schema, poolSize: 2 }),
    logger: silentLogger,
  });
  scheduler.task('process-dataset', () => {});
  try {
    await scheduler.ready();
    await work({ scheduler, schema });
  } finally {
    await scheduler.stop();
    await dropSchemas([schema]);
  }
}
