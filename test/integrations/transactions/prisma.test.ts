// Prisma 7 with the pg driver adapter: a real generated client on the real server (see
// prisma-test-client.ts for how it is generated without network access).
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fromPrisma } from '../../../src/postgres.ts';
import { ValidationError } from '../../../src/errors.ts';
import { TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';
import { generatePrismaClient } from './prisma-test-client.ts';
import { APP_DATABASE_URL, transactionAdapterSuite, withKairos } from './transaction-adapter-suite.ts';

transactionAdapterSuite({
  name: 'Prisma',
  readsInUtc: true, // see the TimeZone test below
  async open(schema) {
    const PrismaClient = await generatePrismaClient();
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: APP_DATABASE_URL, max: 2 }, { schema }),
    });
    return {
      transaction: (work) =>
        prisma.$transaction(
          async (tx) => {
            await work({
              insertDataset: async (id, rows) => {
                await tx.dataset.create({ data: { id, rows } });
              },
              tx: fromPrisma(tx),
            });
          },
          { timeout: 20_000 },
        ),
      notATransaction: () => fromPrisma(prisma as never),
      close: () => prisma.$disconnect(),
    };
  },
});

describe('fromPrisma on a session whose TimeZone is not UTC', () => {
  // @prisma/adapter-pg writes a Date as a time without its zone and reads a timestamptz with its
  // offset replaced by +00 (prisma/orm#26786): both right only in UTC.
  it("writes and reads a schedule's times as the instants they are, and leaves the session's TimeZone as it was", () =>
    withKairos('prisma_zone', async ({ scheduler, schema }) => {
      const PrismaClient = await generatePrismaClient();
      const prisma = new PrismaClient({
        adapter: new PrismaPg(
          { connectionString: TEST_DATABASE_URL, max: 1, options: '-c TimeZone=America/New_York' },
          { schema },
        ),
      });
      const runDate = '2030-01-02T03:00:00.000Z';
      try {
        const zones = await prisma.$transaction(async (tx) => {
          const before = await tx.$queryRawUnsafe<{ zone: string }[]>(`SELECT current_setting('TimeZone') AS zone`);
          await scheduler.addSchedule('process-dataset', { type: 'date', runDate }, { id: 'once', tx: fromPrisma(tx) });
          const { rows } = await fromPrisma(tx).query<{ at: Date }>(`SELECT $1::timestamptz AS at`, [
            new Date(runDate),
          ]);
          expect(rows).toEqual([{ at: new Date(runDate) }]);
          const after = await tx.$queryRawUnsafe<{ zone: string }[]>(`SELECT current_setting('TimeZone') AS zone`);
          return [before[0]?.zone, after[0]?.zone];
        });
        expect(zones).toEqual(['America/New_York', 'America/New_York']);
        // A read that Prisma itself fails on (a type it cannot read) leaves the zone as it was.
        const afterFailure = await prisma.$transaction(async (tx) => {
          await expect(fromPrisma(tx).query(`SELECT '(1,2)'::point AS p`)).rejects.toThrow();
          return tx.$queryRawUnsafe<{ zone: string }[]>(`SELECT current_setting('TimeZone') AS zone`);
        });
        expect(afterFailure).toEqual([{ zone: 'America/New_York' }]);
        expect((await scheduler.getSchedule('once'))?.nextFireTime?.toISOString()).toBe(runDate);
        const stored = await withUtcClient((client) =>
          client.query<{ at: string }>(
            `SELECT next_fire_time::text AS at FROM "${schema}".schedules WHERE id = 'once'`,
          ),
        );
        expect(stored.rows).toEqual([{ at: '2030-01-02 03:00:00+00' }]);
      } finally {
        await prisma.$disconnect();
      }
    }));
});

async function withUtcClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, options: '-c TimeZone=UTC' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('fromPrisma on a transaction kept past its end', () => {
  it('is refused, and nothing is written', () =>
    withKairos('prisma_kept', async ({ scheduler, schema }) => {
      const PrismaClient = await generatePrismaClient();
      const prisma = new PrismaClient({
        adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL, max: 1 }, { schema }),
      });
      try {
        const kept = await prisma.$transaction(async (tx) => tx);
        const refusal = await scheduler.addJob('process-dataset', { tx: fromPrisma(kept) }).catch((e: unknown) => e);
        expect(String(refusal)).toMatch(/fromPrisma\(tx\): .* is over/);
        expect(String((refusal as Error).cause)).toMatch(/Transaction already closed/); // Prisma's own words
        expect((await scheduler.getJobs()).items).toEqual([]);
      } finally {
        await prisma.$disconnect();
      }
    }));
});

describe('fromPrisma on a client with a query extension that renames result columns', () => {
  it('refuses the schedule it cannot read back, so the transaction rolls back; nothing is written', () =>
    withKairos('prisma_extended', async ({ scheduler, schema }) => {
      const PrismaClient = await generatePrismaClient();
      const base = new PrismaClient({
        adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL, max: 1 }, { schema }),
      });
      const camel = (key: string) => key.replace(/_([a-z])/g, (_match, letter: string) => letter.toUpperCase());
      const camelRows = (result: unknown) =>
        Array.isArray(result)
          ? result.map((row: object) =>
              Object.fromEntries(Object.entries(row).map(([key, value]) => [camel(key), value])),
            )
          : result;
      // Every operation's result, raw queries included (Prisma's `$allOperations` hook).
      // (The test client's type declares no $extends; the generated client has it.)
      const extendable = base as unknown as { $extends(extension: object): typeof base };
      const prisma = extendable.$extends({
        query: {
          async $allOperations({ args, query }: { args: unknown; query: (args: unknown) => Promise<unknown> }) {
            return camelRows(await query(args));
          },
        },
      });
      try {
        const refusal = await prisma
          .$transaction(async (tx) => {
            await scheduler.addSchedule(
              'process-dataset',
              { type: 'interval', seconds: 60 },
              {
                id: 'extended',
                tx: fromPrisma(tx as never),
              },
            );
          })
          .catch((error: unknown) => error);
        expect(refusal).toBeInstanceOf(ValidationError);
        expect(String(refusal)).toMatch(/a row it cannot read \(createdAt is undefined\)/);
        expect(await scheduler.getSchedule('extended')).toBeNull();
      } finally {
        await base.$disconnect();
      }
    }));
});

describe('fromPrisma on an aborted transaction', () => {
  it("says it is aborted, from the database's own error code under Prisma's P2010", () =>
    withKairos('prisma_aborted', async ({ scheduler, schema }) => {
      const PrismaClient = await generatePrismaClient();
      const prisma = new PrismaClient({
        adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL, max: 1 }, { schema }),
      });
      try {
        const refusal = await prisma
          .$transaction(async (tx) => {
            await tx.$executeRawUnsafe('SELECT 1 / 0').catch(() => undefined); // the transaction is aborted now
            await scheduler.addJob('process-dataset', { tx: fromPrisma(tx) });
          })
          .catch((error: unknown) => error);
        expect(String(refusal)).toMatch(/the transaction given as \{ tx \} is aborted/);
        expect((await scheduler.getJobs()).items).toEqual([]);
      } finally {
        await prisma.$disconnect();
      }
    }));
});
