// Kysely (PostgresDialect on a pg Pool), with CamelCasePlugin: the adapter must bypass plugins.
import { CamelCasePlugin, Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fromKysely } from '../../../src/postgres.ts';
import { TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

interface Database {
  datasets: { id: string; rows: number };
}

transactionAdapterSuite({
  name: 'Kysely',
  async open(schema) {
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: APP_DATABASE_URL, max: 2 }) }),
      plugins: [new CamelCasePlugin()],
    });
    return {
      transaction: (work) =>
        db.transaction().execute(async (trx) => {
          await work({
            insertDataset: async (id, rows) => {
              await trx.withSchema(schema).insertInto('datasets').values({ id, rows }).execute();
            },
            tx: fromKysely(trx),
          });
        }),
      notATransaction: () => fromKysely(db),
      close: () => db.destroy(),
    };
  },
});

describe('fromKysely on a controlled transaction', () => {
  it('enqueues on db.startTransaction(): committed kept, rolled back gone', () =>
    withKairos('kysely_controlled', async ({ scheduler }) => {
      const db = new Kysely<Database>({
        dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 1 }) }),
      });
      try {
        const committed = await db.startTransaction().execute();
        const kept = await scheduler.addJob('process-dataset', { tx: fromKysely(committed) });
        await committed.commit().execute();
        const rolledBack = await db.startTransaction().execute();
        const dropped = await scheduler.addJob('process-dataset', { tx: fromKysely(rolledBack) });
        await rolledBack.rollback().execute();
        expect(await scheduler.getJob(kept)).not.toBeNull();
        expect(await scheduler.getJob(dropped)).toBeNull();
        // Kept past their end: refused, and nothing written.
        let pastExecute: unknown;
        await db.transaction().execute(async (trx) => {
          pastExecute = trx;
        });
        for (const over of [committed, rolledBack, pastExecute]) {
          await expect(scheduler.addJob('process-dataset', { tx: fromKysely(over as never) })).rejects.toThrow(
            /fromKysely\(trx\): .* is over/,
          );
        }
        expect((await scheduler.getJobs()).items.map((job) => job.id)).toEqual([kept]);
      } finally {
        await db.destroy();
      }
    }));
});
