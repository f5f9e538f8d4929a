// `kairos/postgres`: the PostgreSQL store and its LISTEN/NOTIFY event broker. `pg` is the
// application's dependency, not Kairos's.
export { PostgresStore } from './stores/postgres/postgres-store.ts';
export type { PostgresStoreOptions } from './stores/postgres/postgres-store-options.ts';
export { PostgresEventBroker } from './stores/postgres/postgres-event-broker.ts';
export type { PgPool, PgQueryable } from './stores/postgres/pg-types.ts';
export { POSTGRES_SCHEMA_VERSION } from './stores/postgres/postgres-migrations.ts';
// Transaction adapters: `addJob(task, { tx: fromKysely(trx) })` inside the ORM's own transaction.
// Each is declared structurally, so the ORM stays the application's optional dependency.
export { fromKysely, type KyselyTransactionLike } from './integrations/transactions/kysely-transaction.ts';
export { fromKnex, type KnexTransactionLike } from './integrations/transactions/knex-transaction.ts';
export { fromDrizzle, type DrizzleTransactionLike } from './integrations/transactions/drizzle-transaction.ts';
export {
  fromTypeOrm,
  type TypeOrmEntityManagerLike,
  type TypeOrmQueryRunnerLike,
} from './integrations/transactions/typeorm-transaction.ts';
export { fromPrisma, type PrismaTransactionLike } from './integrations/transactions/prisma-transaction.ts';
