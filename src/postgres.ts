// `kairos/postgres`: the PostgreSQL store and its LISTEN/NOTIFY event broker. `pg` is the
// application's dependency, not Kairos's.
export { PostgresStore, type PostgresStoreOptions } from './stores/postgres/postgres-store.ts';
export { PostgresEventBroker } from './stores/postgres/postgres-event-broker.ts';
export type { PgPool, PgQueryable } from './stores/postgres/pg-types.ts';
export { POSTGRES_SCHEMA_VERSION } from './stores/postgres/postgres-migrations.ts';
