// A raw `pg` client inside BEGIN is a Kairos `tx` as it is: no adapter.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/index.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { until } from '../../support/child-node.ts';
import { TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

transactionAdapterSuite({
  name: 'raw pg',
  raw: true,
  async open(schema) {
    const pool = new pg.Pool({ connectionString: APP_DATABASE_URL, max: 2 });
    return {
      async transaction(work) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await work({
            insertDataset: async (id, rows) => {
              await client.query(`INSERT INTO "${schema}".datasets (id, rows) VALUES ($1, $2)`, [id, rows]);
            },
            tx: client,
          });
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw error;
        } finally {
          client.release();
        }
      },
      close: () => pool.end(),
    };
  },
});

describe('raw pg, misused', () => {
  it('refuses a pool as tx, which would write the job outside any transaction', async () => {
    await withKairos('rawpool', async ({ scheduler, schema }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      try {
        const adding = scheduler.addJob('process-dataset', { tx: pool });
        await expect(adding).rejects.toThrow(ValidationError);
        await expect(adding).rejects.toThrow(/checked out from the pool/);
        const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        await pool.end();
      }
    });
  });

  it('takes a client whose BEGIN is sent but not yet answered: it runs first, so the job is inside', async () => {
    await withKairos('rawqueued', async ({ scheduler, schema }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const client = await pool.connect();
      try {
        const begun = client.query('BEGIN');
        await scheduler.addJob('process-dataset', { tx: client });
        await begun;
        await client.query('ROLLBACK');
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
        expect(rows).toEqual([{ n: 0 }]); // rolled back with the transaction
      } finally {
        client.release();
        await pool.end();
      }
    });
  });

  it('refuses a client outside a transaction: before BEGIN, and after COMMIT', async () => {
    await withKairos('rawidle', async ({ scheduler, schema }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const client = await pool.connect();
      try {
        await expect(scheduler.addJob('process-dataset', { tx: client })).rejects.toThrow(/outside a transaction/);
        await client.query('BEGIN');
        await client.query('COMMIT');
        await expect(scheduler.addJob('process-dataset', { tx: client })).rejects.toThrow(/outside a transaction/);
        const { rows } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        client.release();
        await pool.end();
      }
    });
  });

  it('says so when the transaction is aborted, and when it is on a database without Kairos', async () => {
    await withKairos('rawaborted', async ({ scheduler }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const elsewhere = new pg.Client({ connectionString: TEST_DATABASE_URL.replace(/\/test$/, '/postgres') });
      await elsewhere.connect();
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT 1/0').catch(() => undefined);
        await expect(scheduler.addJob('process-dataset', { tx: client })).rejects.toThrow(
          /the transaction given as \{ tx \} is aborted .*roll it back/,
        );
        await client.query('ROLLBACK');
        await elsewhere.query('BEGIN');
        await expect(scheduler.addJob('process-dataset', { tx: elsewhere })).rejects.toThrow(
          /Kairos's tables are missing .*is that transaction on another database\?/,
        );
        await elsewhere.query('ROLLBACK');
      } finally {
        client.release();
        await elsewhere.end();
        await pool.end();
      }
    });
  });

  it('takes a query runner of your own that answers as pg does, and refuses one that answers otherwise', async () => {
    await withKairos('rawown', async ({ scheduler }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const own = { query: (text: string, values?: unknown[]) => client.query(text, values) };
        const kept = await scheduler.addJob('process-dataset', { tx: own });
        await client.query('COMMIT');
        expect(await scheduler.getJob(kept)).not.toBeNull();
        // Rows alone, as some ORMs' query() answers: a duplicate could not be told from a new job.
        // Refused once its statement ran, so the transaction is rolled back, as the docs say.
        await client.query('BEGIN');
        const rowsOnly = { query: async (text: string, values?: unknown[]) => (await client.query(text, values)).rows };
        await expect(scheduler.addJob('process-dataset', { id: 'refused', tx: rowsOnly })).rejects.toThrow(
          /tx: .*answered a query without \{ rows, rowCount \} as pg does/,
        );
        await client.query('ROLLBACK');
        expect(await scheduler.getJob('refused')).toBeNull();
      } finally {
        client.release();
        await pool.end();
      }
    });
  });
});

describe('raw pg with type parsers of its own', () => {
  it('reads a schedule whose times come back as epoch numbers, and its event tells the nodes when it is due', () =>
    withKairos('raw_pg_parsers', async ({ scheduler }) => {
      const events: KairosEvent[] = [];
      scheduler.on('schedule.added', (event) => void events.push(event));
      await scheduler.start(); // listening for the event its commit sends
      // An application that reads every timestamptz (OID 1184) as milliseconds since the epoch.
      const types = {
        getTypeParser: (oid: number, format?: 'text' | 'binary') =>
          oid === 1184 ? (text: string) => Date.parse(text) : pg.types.getTypeParser(oid, format as 'text'),
      };
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL, types });
      await client.connect();
      try {
        await client.query('BEGIN');
        await scheduler.addSchedule('process-dataset', { type: 'interval', seconds: 60 }, { id: 'epoch', tx: client });
        await client.query('COMMIT');
      } finally {
        await client.end();
      }
      const stored = await scheduler.getSchedule('epoch');
      await until(() => events.length === 1, 'the schedule.added event arrives', 5000, 10);
      expect(events[0]).toEqual({
        type: 'schedule.added',
        timestamp: stored?.updatedAt,
        scheduleId: 'epoch',
        task: 'process-dataset',
        nextFireTime: stored?.nextFireTime,
      });
    }));
});
