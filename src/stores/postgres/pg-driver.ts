import { createRequire } from 'node:module';
import { StoreError } from '../../errors.ts';
import type { PgClient, PgModule, PgPool } from './pg-types.ts';

const require = createRequire(import.meta.url);
let pgModule: PgModule | undefined;

/** `pg`, loaded on first use: it is the application's optional dependency, not Kairos's. */
export function loadPg(): PgModule {
  if (pgModule !== undefined) return pgModule;
  try {
    pgModule = require('pg') as PgModule;
    return pgModule;
  } catch (error) {
    throw new StoreError('PostgresStore: the pg driver is not installed. Run `npm install pg`.', { cause: error });
  }
}

/**
 * A dedicated connection for LISTEN, with the pool's settings (or the connection string). It only
 * ever reads, so a connection that the network dropped without a word would go unnoticed: TCP
 * keep-alive probes find some of those out, the broker's regular check the rest (see
 * `PostgresEventBroker`), and the broker then reconnects. `timeoutMs` bounds the connect.
 */
export function listenClient(pool: PgPool, connectionString: string | undefined, timeoutMs: number | null): PgClient {
  const pg = loadPg();
  const listen = {
    application_name: 'kairos-listen',
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(timeoutMs === null ? {} : { connectionTimeoutMillis: timeoutMs }),
  };
  if (connectionString === undefined) return new pg.Client({ ...(poolConnectionSettings(pool) ?? {}), ...listen });
  return new pg.Client({ connectionString, ...listen });
}

/**
 * The settings of an application's `pg` pool, to make connections of Kairos's own like its (null if
 * it has none to read: not a `pg` Pool). `pg-pool` keeps the password out of sight (a property that
 * is not enumerable, so that it is not logged), and a copy with `...` would lose it: a password
 * given apart from the URL, or a function that makes one (IAM tokens), goes along explicitly.
 */
export function poolConnectionSettings(pool: PgPool): Record<string, unknown> | null {
  const options = (pool as unknown as { options?: Record<string, unknown> }).options;
  if (typeof options !== 'object' || options === null) return null;
  return options.password === undefined ? { ...options } : { ...options, password: options.password };
}

/**
 * Closes the socket of a connection still being made (its connect, or its first query, in flight),
 * which then fail. Not `end()`: a `pg` client ended while it connects never settles its connect.
 */
export function abortClient(client: PgClient): void {
  (client as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * Ends a connection: politely if the server answers within `ms`, else by closing its socket. A
 * link that went silent would keep `end()` waiting for the server's goodbye for a quarter of an
 * hour, and whoever awaits it (a `stop()`) with it.
 */
export async function closeClient(client: PgClient, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
  });
  const outcome = await Promise.race([client.end().catch(() => undefined), late]);
  clearTimeout(timer);
  if (outcome === 'late') abortClient(client);
}
