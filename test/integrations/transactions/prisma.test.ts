// Prisma 7 with the pg driver adapter: a real generated client on the real server (see
// prisma-test-client.ts for how it is generated without network access).
import { PrismaPg } from '@prisma/adapter-pg';
import { fromPrisma } from '../../../src/postgres.ts';
import { TEST_DATABASE_URL } from '../../stores/postgres/pg-test-database.ts';
import { generatePrismaClient } from './prisma-test-client.ts';
import { transactionAdapterSuite } from './transaction-adapter-suite.ts';

transactionAdapterSuite({
  name: 'Prisma',
  async open(schema) {
    const PrismaClient = await generatePrismaClient();
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL, max: 2 }, { schema }),
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
