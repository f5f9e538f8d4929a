import type { Logger } from '../../common/logger.ts';
import { StoreError } from '../../errors.ts';
import { parsePositiveOptionalDuration } from '../../time/duration.ts';
import type { PgConnectionConfig, PgQueryable } from './pg-types.ts';

/** The server's limit on a statement, as a share of `queryTimeout`: it must give up first. */
const SERVER_SHARE = 0.9;

/** Past what a timer can count (about 24 days), a limit is no limit. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `PostgresStore`'s `queryTimeout` in milliseconds (default 30 s); null: no limit. */
export function parseQueryTimeout(value: unknown): number | null {
  const ms = value === undefined ? 30_000 : parsePositiveOptionalDuration('PostgresStore queryTimeout', value);
  return ms === null || ms > MAX_TIMER_MS ? null : ms;
}

/**
 * The settings of the pool Kairos makes from a connection string. A connection that the network
 * dropped without a word is found out: TCP keep-alive, a limit on connecting, and a server-side
 * `statement_timeout` a little below `queryTimeout`, so that a statement Kairos stopped waiting for
 * never takes effect later (a claim would lease jobs that no node then runs). That one is sent as
 * the connection starts, unless `sendStatementTimeout` is false: a pooler (PgBouncer) refuses it,
 * and the server side must then set it (see `safeStatementLimit`).
 */
export function ownPoolConfig(
  connectionString: string,
  max: number,
  queryTimeoutMs: number | null,
  sendStatementTimeout: boolean,
): PgConnectionConfig & { max: number } {
  return {
    connectionString,
    max,
    application_name: 'kairos',
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(queryTimeoutMs === null ? {} : { connectionTimeoutMillis: queryTimeoutMs }),
    ...(queryTimeoutMs === null || !sendStatementTimeout
      ? {}
      : { statement_timeout: Math.floor(queryTimeoutMs * SERVER_SHARE) }),
  };
}

/** The settings that `checkDateStyle`, `checkIsolation` and `checkAutovacuum` judge, read in one round trip. */
export async function readSessionSettings(
  db: PgQueryable,
): Promise<{ dateStyle: string; isolation: string; autovacuum: string }> {
  const { rows } = await db.query<{ date_style: string; isolation: string; autovacuum: string }>(
    `SELECT current_setting('DateStyle') AS date_style, current_setting('default_transaction_isolation') AS isolation,
       current_setting('autovacuum') AS autovacuum`,
  );
  const row = rows[0];
  return {
    dateStyle: row?.date_style ?? '',
    isolation: row?.isolation ?? 'read committed',
    autovacuum: row?.autovacuum ?? 'on',
  };
}

/**
 * Every fire updates its schedule's row twice and every run inserts and deletes a job's: without
 * vacuum, the dead rows and index entries pile up, and each claim reads past more of them (with
 * 1,000 schedules firing every second, fires started twice as late after two minutes). Says so
 * once, at start.
 */
export function checkAutovacuum(setting: string, logger: Logger): void {
  if (setting !== 'off') return;
  logger.warn(
    { autovacuum: setting },
    "PostgresStore: the server's autovacuum is off: Kairos's jobs and schedules tables churn with every run and fire, and their claims slow down as dead rows pile up; " +
      'turn autovacuum on (ALTER SYSTEM SET autovacuum = on), or VACUUM those tables on a schedule of your own',
  );
}

/**
 * node-postgres, and Kairos's own parsers, read timestamps in the ISO style, PostgreSQL's default;
 * under another `DateStyle` they would read every time as null, and schedules would go wrong
 * without a word. Refuses to go on instead.
 */
export function checkDateStyle(style: string): void {
  if (!style.startsWith('ISO')) {
    throw new StoreError(
      `PostgresStore: the database's DateStyle is "${style}", but Kairos (like node-postgres) reads timestamps in the ISO style; ` +
        `set it for the database (ALTER DATABASE … SET DateStyle = 'ISO, MDY') or on the pool's connections (options: '-c DateStyle=ISO')`,
    );
  }
}

/**
 * Kairos's own transactions say READ COMMITTED, but its single statements (a claim, a release) run
 * at the connections' default. Under REPEATABLE READ or SERIALIZABLE a claim that meets a row
 * another node claimed a moment before fails with a serialization error instead of passing it by:
 * nothing runs twice, but claims fail and are tried again, with an error logged each time. Says so
 * once, at start.
 */
export function checkIsolation(level: string, logger: Logger): void {
  if (level === 'read committed' || level === 'read uncommitted') return;
  logger.warn(
    { defaultTransactionIsolation: level },
    `PostgresStore: the connections' default_transaction_isolation is "${level}": when nodes claim at the same moment, some claims fail with a serialization error and are tried again (nothing runs twice); ` +
      "give Kairos connections at read committed (ALTER ROLE … SET default_transaction_isolation = 'read committed' for a role of its own, or options: '-c default_transaction_isolation=read\\ committed' on its pool)",
  );
}

/** Where the pool's connections get their `statement_timeout`, as a warning tells the user. */
export type StatementTimeoutSource = 'pool-options' | 'server';

/**
 * The limit Kairos may put on its statements on a pool whose connections it did not give a
 * `statement_timeout` to (the application's, or its own behind a pooler that refuses one):
 * `wanted` if the server gives up on a statement first (a `statement_timeout` set below it), else
 * none. A statement that Kairos gave up on while the server went on could take effect afterwards (a
 * claim would lease jobs that no node then runs; a job would exist although `addJob` failed).
 * Without a server limit, Kairos waits as long as it takes, and says where to set one (`source`).
 */
export async function safeStatementLimit(
  db: PgQueryable,
  wanted: number,
  logger: Logger,
  source: StatementTimeoutSource,
): Promise<number | null> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT setting::int AS ms FROM pg_settings WHERE name = 'statement_timeout'`,
  );
  const serverMs = rows[0]?.ms ?? 0;
  // With room for the trip to the server and back, as on Kairos's own pool.
  if (serverMs > 0 && serverMs <= Math.floor(wanted * SERVER_SHARE)) return wanted;
  const limit = Math.floor(wanted * SERVER_SHARE);
  logger.warn(
    { statementTimeoutMs: serverMs, queryTimeoutMs: wanted },
    source === 'pool-options'
      ? 'PostgresStore: the pool given has no statement_timeout of at most 90% of queryTimeout, so Kairos waits for its statements without a limit and a connection that goes silent (a failover) can stall this node; ' +
          "give the pool options: '-c statement_timeout=<90% of queryTimeout>' and keepAlive: true (or set queryTimeout: null to wait without a limit)"
      : `PostgresStore: a connection pooler (PgBouncer?) refused the statement_timeout Kairos sends as its connections start, and the server sets none of at most 90% of queryTimeout, so Kairos waits for its statements without a limit and a connection that goes silent (a failover) can stall this node; ` +
          `set it on the server side (ALTER ROLE … SET statement_timeout = ${limit}, or PgBouncer's connect_query), or set queryTimeout: null to wait without a limit`,
  );
  return null;
}
