// Drizzle with the node-postgres driver: the adapter hands Kairos the transaction's pg client.
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fromDrizzle } from '../../../src/postgres.ts';
import { TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

transactionAdapterSuite({
  name: 'Drizzle',
  async open(schema) {
    const datasets = pgSchema(schema).table('datasets', {
      id: text('id').primaryKey(),
      rows: integer('rows').notNull(),
    });
    const pool = new pg.Pool({ connectionString: APP_DATABASE_URL, max: 2 });
    const db = drizzle({ client: pool });
    return {
      transaction: (work) =>
        db.transaction(async (tx) => {
          await work({
            insertDataset: async (id, rows) => {
              await tx.insert(datasets).values({ id, rows });
            },
            tx: fromDrizzle(tx),
          });
        }),
      notATransaction: () => fromDrizzle(db as never),
      close: () => pool.end(),
    };
  },
});

describe('fromDrizzle in a nested transaction', () => {
  it('enqueues inside a savepoint: rolled back with the savepoint, kept with the outer commit', () =>
    withKairos('drizzle_nested', async ({ scheduler }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const db = drizzle({ client: pool });
      try {
        let kept = '';
        let dropped = '';
        await db.transaction(async (tx) => {
          await tx.transaction(async (inner) => {
            kept = await scheduler.addJob('process-dataset', { tx: fromDrizzle(inner) });
          });
          await tx
            .transaction(async (inner) => {
              dropped = await scheduler.addJob('process-dataset', { tx: fromDrizzle(inner) });
              inner.rollback();
            })
            .catch(() => undefined);
        });
        expect(await scheduler.getJob(kept)).not.toBeNull();
        expect(await scheduler.getJob(dropped)).toBeNull();
      } finally {
        await pool.end();
      }
    }));
});

describe('fromDrizzle, misused', () => {
  it('refuses a handle kept past its transaction, which would write the job on its own', () =>
    withKairos('drizzle_kept', async ({ scheduler, schema }) => {
      const pool = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
      const db = drizzle({ client: pool });
      try {
        const kept = await db.transaction(async (tx) => fromDrizzle(tx));
        await expect(scheduler.addJob('process-dataset', { tx: kept })).rejects.toThrow(/outside a transaction/);
        const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".jobs`);
        expect(rows).toEqual([{ n: 0 }]);
      } finally {
        await pool.end();
      }
    }));
});
