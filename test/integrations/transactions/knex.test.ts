// Knex (client 'pg'): Kairos's `$n` parameters become Knex `?` bindings.
import knex from 'knex';
import { describe, expect, it } from 'vitest';
import { fromKnex } from '../../../src/postgres.ts';
import { toKnexBindings } from '../../../src/integrations/transactions/knex-transaction.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

transactionAdapterSuite({
  name: 'Knex',
  async open(schema) {
    const db = knex({ client: 'pg', connection: APP_DATABASE_URL, pool: { min: 0, max: 2 } });
    return {
      transaction: (work) =>
        db.transaction(async (trx) => {
          await work({
            insertDataset: async (id, rows) => {
              await trx.withSchema(schema).insert({ id, rows }).into('datasets');
            },
            tx: fromKnex(trx),
          });
        }),
      notATransaction: () => fromKnex(db),
      close: () => db.destroy(),
    };
  },
});

describe('toKnexBindings', () => {
  it('binds each $n in its position (twice if used twice, $10 is not $1), and escapes a ? already there', () => {
    const values = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];
    expect(toKnexBindings(`SELECT $10, $1, $3::text = $3::text, '?' AS q, $2 ? 'key'`, values)).toEqual({
      sql: `SELECT ?, ?, ?::text = ?::text, '\\?' AS q, ? \\? 'key'`,
      bindings: ['j', 'a', 'c', 'c', 'b'],
    });
  });

  it('sends undefined as NULL, as pg does, and refuses a $n without a value', () => {
    expect(toKnexBindings('SELECT $1, $2', [undefined, 0]).bindings).toEqual([null, 0]);
    expect(() => toKnexBindings('SELECT $2', [1])).toThrow(/\$2/);
  });
});

describe('fromKnex on a transaction kept past its end', () => {
  it('is refused, committed or rolled back, and nothing is written', () =>
    withKairos('knex_kept', async ({ scheduler }) => {
      const db = knex({ client: 'pg', connection: APP_DATABASE_URL, pool: { min: 0, max: 1 } });
      try {
        let committed: unknown;
        await db.transaction(async (trx) => {
          committed = trx;
        });
        const rolledBack = await db.transaction();
        await rolledBack.rollback();
        for (const over of [committed, rolledBack]) {
          await expect(scheduler.addJob('process-dataset', { tx: fromKnex(over as never) })).rejects.toThrow(
            /fromKnex\(trx\): .* is over/,
          );
        }
        expect((await scheduler.getJobs()).items).toEqual([]);
      } finally {
        await db.destroy();
      }
    }));
});
