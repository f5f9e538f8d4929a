import { KairosError, StoreError } from '../../errors.ts';

/** PostgreSQL gave up waiting for a lock (`lock_timeout`). */
export function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

/** What node-postgres says when a query got no answer within its `query_timeout`. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/**
 * The setting a connection pooler refused as a connection started, if that is what `error` is:
 * PgBouncer passes on only the few settings it tracks. `inOptions`: one given in `options` (`-c
 * name=value`), as newer versions say, rather than as a start-up parameter of its own.
 */
export function refusedStartupSetting(error: unknown): { name: string; inOptions: boolean } | null {
  const message = error instanceof Error ? error.message : '';
  const refused = /unsupported startup parameter( in options)?: (\S+)/i.exec(message);
  const name = refused?.[2];
  return name === undefined ? null : { name, inOptions: refused?.[1] !== undefined };
}

/**
 * The SQLSTATE of a database error: `pg`'s `code`, or where Prisma keeps the driver's when a raw
 * query of Kairos's failed on a `fromPrisma(tx)` (its own `code` is then `P2010`): under
 * `meta.driverAdapterError` with a driver adapter (Prisma 7), as `meta.code` with Prisma 6's and
 * older query engines.
 */
function sqlStateOf(error: unknown): string {
  const fields = error as {
    code?: unknown;
    meta?: { code?: unknown; driverAdapterError?: { cause?: { originalCode?: unknown } } };
  };
  const original = fields?.meta?.driverAdapterError?.cause?.originalCode;
  if (typeof original === 'string') return original;
  const engines = fields?.meta?.code;
  if (fields?.code === 'P2010' && typeof engines === 'string' && SQLSTATE.test(engines)) return engines;
  return typeof fields?.code === 'string' ? fields.code : '';
}

/** A SQLSTATE: five digits or upper-case letters. */
const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The action of a `pgStoreError` for migrations: a privilege they lack has its own advice. */
export const MIGRATE_ACTION = 'apply migrations';

/** A `pg` error as a `StoreError` that says what it means for the user. */
export function pgStoreError(error: unknown, action: string): KairosError {
  if (error instanceof KairosError) return error;
  const code = sqlStateOf(error);
  const message = error instanceof Error ? error.message : String(error);
  let meaning = 'the database reported an error';
  const refused = refusedStartupSetting(error);
  if (refused !== null) {
    meaning = `a connection pooler (PgBouncer?) refused the setting ${refused.name} that the pool sends as it connects: set it on the server side instead, or list it in PgBouncer's ignore_startup_parameters`;
  } else if (/timeout exceeded when trying to connect/i.test(message)) {
    // pg-pool's words when no connection came free in time: all in use, or none could be made.
    meaning =
      'no connection of the pool came free within its connectionTimeoutMillis: all are in use (a pool shared with the application, one held by the transaction that adds a job? start the scheduler, or await scheduler.ready(), first), or the database is unreachable';
  } else if (isQueryTimeout(error)) {
    meaning = 'the database did not answer within queryTimeout; the connection was dropped';
  } else if (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(
      code,
    ) ||
    /terminat|Connection|connect/i.test(message)
  ) {
    meaning = 'the database is unreachable or restarting';
  } else if (code === '53100') meaning = 'the database server is out of disk space';
  else if (code === '42P01' || code === '3F000')
    meaning =
      "Kairos's tables are missing (was the schema dropped? or, for a call given { tx }, is that transaction on another database?)";
  else if (code === '25P02')
    meaning = 'the transaction given as { tx } is aborted (a statement in it failed): roll it back, then try again';
  else if (code === '40P01') meaning = 'a deadlock was detected';
  else if (code === '42501')
    meaning =
      action === MIGRATE_ACTION
        ? "the database role may not create or change Kairos's schema and tables: run `kairos migrate` as their owner, or grant the role what it lacks"
        : "the database role lacks a privilege (a node's role needs USAGE on Kairos's schema and SELECT, INSERT, UPDATE, DELETE on its tables)";
  return new StoreError(`PostgresStore: could not ${action}: ${meaning} (${message})`, { cause: error });
}
