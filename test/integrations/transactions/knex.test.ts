// Knex (client 'pg'): Kairos's `$n` parameters become Knex `?` bindings.
import knex from 'knex';
import { describe, expect, it } from 'vitest';
import { fromKnex } from '../../../src/postgres.ts';
import type { KairosEvent } from '../../../src/events/event-types.ts';
import { until } from '../../support/child-node.ts';
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

describe('fromKnex on a Knex whose postProcessResponse renames columns (a camelCase mapper)', () => {
  it('reads what Kairos wrote under the names PostgreSQL gave them', () =>
    withKairos('knex_camel', async ({ scheduler }) => {
      const camel = (key: string) => key.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
      // The usual shallow mapper, applied to rows as it is for the application's own queries.
      const camelRow = (row: unknown) =>
        row !== null && typeof row === 'object' && !Array.isArray(row)
          ? Object.fromEntries(Object.entries(row).map(([key, value]) => [camel(key), value]))
          : row;
      const db = knex({
        client: 'pg',
        connection: APP_DATABASE_URL,
        pool: { min: 0, max: 1 },
        postProcessResponse: (result: { rows?: unknown[] }) =>
          Array.isArray(result?.rows) ? { ...result, rows: result.rows.map(camelRow) } : result,
      });
      const events: KairosEvent[] = [];
      scheduler.on('schedule.added', (event) => void events.push(event));
      try {
        await db.transaction(async (trx) => {
          await scheduler.addSchedule(
            'process-dataset',
            { type: 'interval', seconds: 60 },
            {
              id: 'camel',
              misfireGraceTime: '5s',
              tx: fromKnex(trx),
            },
          );
        });
        const stored = await scheduler.getSchedule('camel');
        await until(() => events.length === 1, 'the schedule.added event arrives', 5000, 10);
        expect(stored).toMatchObject({ id: 'camel', misfireGraceTime: 5000 });
        expect(events[0]).toEqual({
          type: 'schedule.added',
          timestamp: stored?.updatedAt,
          scheduleId: 'camel',
          task: 'process-dataset',
          nextFireTime: stored?.nextFireTime,
        });
      } finally {
        await db.destroy();
      }
    }));

  it('refuses a result whose hook dropped columns, with an error that says so; nothing is written', () =>
    withKairos('knex_dropping', async ({ scheduler }) => {
      const db = knex({
        client: 'pg',
        connection: APP_DATABASE_URL,
        pool: { min: 0, max: 1 },
        postProcessResponse: (result: { rows?: unknown[] }) =>
          Array.isArray(result?.rows) ? { ...result, rows: result.rows.map(() => ({ only: 'this' })) } : result,
      });
      try {
        await expect(
          db.transaction(async (trx) => {
            await scheduler.addSchedule(
              'process-dataset',
              { type: 'interval', seconds: 60 },
              {
                id: 'dropped',
                tx: fromKnex(trx),
              },
            );
          }),
        ).rejects.toThrow(/postProcessResponse hook changed the result/);
        expect(await scheduler.getSchedule('dropped')).toBeNull();
      } finally {
        await db.destroy();
      }
    }));

  it('says so when a hook makes an array of the result (its rows), rather than blame the client', () =>
    withKairos('knex_rows_only', async ({ scheduler }) => {
      const db = knex({
        client: 'pg',
        connection: APP_DATABASE_URL,
        pool: { min: 0, max: 1 },
        postProcessResponse: (result: { rows?: unknown[] }) => result?.rows ?? result,
      });
      try {
        await expect(
          db.transaction(async (trx) => {
            await scheduler.addJob('process-dataset', { tx: fromKnex(trx) });
          }),
        ).rejects.toThrow(/a postProcessResponse hook changed the result/);
        expect((await scheduler.getJobs()).items).toEqual([]);
      } finally {
        await db.destroy();
      }
    }));
});
