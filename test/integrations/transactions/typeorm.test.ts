// TypeORM (postgres driver): the EntityManager of dataSource.transaction, or a QueryRunner.
import { DataSource, EntitySchema } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/index.ts';
import { fromTypeOrm } from '../../../src/postgres.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

interface Dataset {
  id: string;
  rows: number;
}

function dataSourceOn(schema: string): DataSource {
  const DatasetEntity = new EntitySchema<Dataset>({
    name: 'Dataset',
    tableName: 'datasets',
    schema,
    columns: { id: { type: 'text', primary: true }, rows: { type: 'integer' } },
  });
  return new DataSource({ type: 'postgres', url: APP_DATABASE_URL, entities: [DatasetEntity], poolSize: 2 });
}

transactionAdapterSuite({
  name: 'TypeORM',
  async open(schema) {
    const dataSource = await dataSourceOn(schema).initialize();
    return {
      transaction: (work) =>
        dataSource.transaction(async (manager) => {
          await work({
            insertDataset: async (id, rows) => {
              await manager.insert('Dataset', { id, rows });
            },
            tx: fromTypeOrm(manager),
          });
        }),
      notATransaction: () => fromTypeOrm(dataSource.manager),
      close: () => dataSource.destroy(),
    };
  },
});

describe('fromTypeOrm with a QueryRunner', () => {
  it('enqueues on a query runner in a transaction, and refuses once the transaction is over', () =>
    withKairos('typeorm_runner', async ({ scheduler, schema }) => {
      const dataSource = await dataSourceOn(schema).initialize();
      const runner = dataSource.createQueryRunner();
      try {
        await runner.startTransaction();
        const tx = fromTypeOrm(runner);
        const kept = await scheduler.addJob('process-dataset', { args: { setId: 'kept' }, tx });
        await runner.commitTransaction();
        await runner.startTransaction();
        const dropped = await scheduler.addJob('process-dataset', {
          args: { setId: 'dropped' },
          tx: fromTypeOrm(runner),
        });
        await runner.rollbackTransaction();
        expect(await scheduler.getJob(kept)).not.toBeNull();
        expect(await scheduler.getJob(dropped)).toBeNull();
        await expect(scheduler.addJob('process-dataset', { tx })).rejects.toThrow(/no open transaction/);
      } finally {
        await runner.release();
        await dataSource.destroy();
      }
    }));
});

describe('TypeORM handles passed as tx without fromTypeOrm', () => {
  it('are refused before anything is written: the DataSource, the EntityManager of a transaction, a QueryRunner', () =>
    withKairos('typeorm_unwrapped', async ({ scheduler }) => {
      const dataSource = await dataSourceOn('public').initialize();
      const runner = dataSource.createQueryRunner();
      const refused = /tx: an? \w+ is a database or ORM handle, not a transaction.*fromTypeOrm\(manager\)/;
      try {
        await expect(scheduler.addJob('process-dataset', { tx: dataSource })).rejects.toThrow(refused);
        await dataSource.transaction(async (manager) => {
          await expect(scheduler.addJob('process-dataset', { tx: manager })).rejects.toThrow(refused);
        });
        await expect(scheduler.addJob('process-dataset', { tx: runner })).rejects.toThrow(refused);
        await runner.startTransaction();
        await expect(scheduler.addJob('process-dataset', { tx: runner })).rejects.toThrow(ValidationError);
        await runner.rollbackTransaction();
        expect((await scheduler.getJobs()).items).toEqual([]);
      } finally {
        await runner.release();
        await dataSource.destroy();
      }
    }));
});
