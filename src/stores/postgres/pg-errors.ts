import { KairosError, StoreError } from '../../errors.ts';

/** PostgreSQL gave up waiting for a lock (`lock_timeout`). */
export function isLockTimeout(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '55P03';
}

/** What node-postgres says when a query got no answer within its `query_timeout`. */
export function isQueryTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === 'Query read timeout';
}

/** A `pg` error as a `StoreError` that says what it means for the user. */
export function pgStoreError(error: unknown, action: string): KairosError {
  if (error instanceof KairosError) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  const message = error instanceof Error ? error.message : String(error);
  let meaning = 'the database reported an error';
  // Newer PgBouncer names a setting given in `options` ("... parameter in options: x"): the pool's own.
  const refused = /unsupported startup parameter( in options)?: (\S+)/i.exec(message);
  const refusedParameter = refused?.[2];
  if (refusedParameter === 'statement_timeout' && refused?.[1] === undefined) {
    meaning =
      'a connection pooler (PgBouncer?) refused the statement_timeout sent as the connection starts (Kairos sends one on a pool it makes, from queryTimeout); ' +
      'behind PgBouncer, give the store a pool of yours (`pool`) without it and set statement_timeout on the server side (see "Behind PgBouncer" in the PostgreSQL guide)';
  } else if (refusedParameter !== undefined) {
    meaning = `a connection pooler (PgBouncer?) refused the setting ${refusedParameter} that the pool sends as it connects: set it on the server side instead, or list it in PgBouncer's ignore_startup_parameters`;
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
  else if (code === '42P01' || code === '3F000') meaning = "Kairos's tables are missing (was the schema dropped?)";
  else if (code === '40P01') meaning = 'a deadlock was detected';
  return new StoreError(`PostgresStore: could not ${action}: ${meaning} (${message})`, { cause: error });
}
