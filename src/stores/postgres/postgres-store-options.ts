import type { Duration } from '../../time/duration.ts';
import type { PgPool } from './pg-types.ts';

/** What `new PostgresStore(...)` takes; documented for users in docs/postgres.md. */
export interface PostgresStoreOptions {
  /** `postgres://user@host:5432/db`. Give this or `pool`. */
  connectionString?: string;
  /** An existing `pg` Pool of the application. */
  pool?: PgPool;
  /**
   * Where the LISTEN connection goes, when not where the pool's connections go. LISTEN needs a
   * session of its own: behind a pooler in transaction mode (PgBouncer), which hands each
   * transaction to any server connection, point this straight at PostgreSQL. (Default: the
   * pool's own connection settings.)
   */
  listenConnectionString?: string;
  /** Schema of Kairos's tables, created if missing. (Default: 'kairos'.) */
  schema?: string;
  /** Connections in the pool Kairos creates from `connectionString`. (Default: 10.) */
  poolSize?: number;
  /**
   * Send statements as named prepared statements, parsed and planned once per connection. Turn
   * off behind PgBouncer in transaction mode unless it tracks prepared statements
   * (`max_prepared_statements`, PgBouncer 1.21+). (Default: true.)
   */
  preparedStatements?: boolean;
  /**
   * How long Kairos waits for the database to answer one of its statements before it takes the
   * connection for dead, drops it and tries again on a new one; also how long it waits for a new
   * connection of its own pool, and how often it checks that its LISTEN connection still answers.
   * A failover or a firewall can leave connections open but silent; without a limit a node would
   * wait on them for a quarter of an hour, or for ever. `null`: wait for ever. Migrations are not
   * limited. (Default: '30s'.)
   */
  queryTimeout?: Duration | null;
}
