import { ValidationError } from '../../errors.ts';
import { transactionOver } from './transaction-over.ts';
import type { PgQueryable, PgQueryResult } from '../../stores/postgres/pg-types.ts';

/** The part of a Prisma interactive-transaction client (PostgreSQL) the adapter uses, declared structurally. */
export interface PrismaTransactionLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): PromiseLike<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}

/** `SELECT pg_notify(...)` returns a `void` column, which Prisma's `$queryRaw` cannot read. */
const VOID_SELECT = /^\s*SELECT\s+pg_notify\s*\(/i;
/** Prisma's "Transaction API error" (one that is over, timed out, or could not start). */
const TRANSACTION_API_ERROR = 'P2028';
const RETURNS_ROWS = /^\s*(?:SELECT|WITH|VALUES|TABLE|SHOW)\b|\bRETURNING\b/i;

/**
 * Kairos statements on a Prisma interactive transaction: `addJob(task, { tx: fromPrisma(tx) })`
 * inside `prisma.$transaction(async (tx) => ...)`. Needs the transaction client (`tx`), not
 * `prisma` itself, and the PostgreSQL provider (with or without a driver adapter).
 *
 * Prisma's raw API either returns rows (`$queryRawUnsafe`) or a count (`$executeRawUnsafe`), never
 * both, so the adapter chooses by the statement: a SELECT or a statement with RETURNING goes through
 * `$queryRawUnsafe` and its row count is the number of rows; any other statement (Kairos's `INSERT
 * ... ON CONFLICT DO NOTHING`, whose count tells a new job from a duplicate), and `SELECT
 * pg_notify(...)`, goes through `$executeRawUnsafe`, which returns the affected count. Both take
 * Kairos's `$1` parameters. Rows come back as Prisma reads them (bigint as `BigInt`, json parsed,
 * timestamptz as `Date`), which Kairos's row readers accept. Prisma's pg adapter gets times right
 * only on a session in UTC (see `inUtc`), so dates go out as ISO strings with their zone and rows
 * are read in UTC.
 */
export function fromPrisma(tx: PrismaTransactionLike): PgQueryable {
  if (typeof tx?.$queryRawUnsafe !== 'function' || typeof tx.$executeRawUnsafe !== 'function') {
    throw new ValidationError(
      'fromPrisma(tx)',
      tx,
      'must be a Prisma transaction client: the `tx` of prisma.$transaction(async (tx) => ...)',
    );
  }
  // The interactive-transaction client leaves out $connect/$disconnect; the root client has them.
  if (typeof (tx as { $connect?: unknown }).$connect === 'function') {
    throw new ValidationError(
      'fromPrisma(tx)',
      'PrismaClient',
      'is the client itself, outside any transaction: pass the `tx` of prisma.$transaction(async (tx) => ...)',
    );
  }
  const send = async <Row>(text: string, values: unknown[]): Promise<PgQueryResult<Row>> => {
    if (RETURNS_ROWS.test(text) && !VOID_SELECT.test(text)) {
      const rows = await inUtc(tx, () => tx.$queryRawUnsafe<Row[]>(text, ...values));
      return { rows, rowCount: rows.length };
    }
    const rowCount = await tx.$executeRawUnsafe(text, ...values);
    return { rows: [], rowCount };
  };
  const sendWhileOpen = async <Row>(text: string, values: unknown[]): Promise<PgQueryResult<Row>> => {
    try {
      return await send<Row>(text, values);
    } catch (error) {
      // Prisma's "Transaction already closed": a `tx` kept past its `$transaction`, or one that
      // timed out (its `timeout`, 5 s by default). The same code also says a transaction could
      // not start, which is not this.
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (code === TRANSACTION_API_ERROR && typeof message === 'string' && /already closed|not found/i.test(message)) {
        throw transactionOver('fromPrisma(tx)', 'a Prisma transaction', error);
      }
      throw error;
    }
  };
  return {
    // A Date as an ISO string, with its zone: Prisma would send its UTC time without one.
    query: (text, values = []) =>
      sendWhileOpen(
        text,
        values.map((value) => (value instanceof Date ? value.toISOString() : value)),
      ),
  };
}

/**
 * `read` with the transaction's TimeZone set to UTC, then set back as it was: @prisma/adapter-pg
 * reads a timestamptz's text with its offset replaced by +00 (prisma/orm#26786), which is the
 * instant it was only in UTC. Set with `set_config(..., true)`, as `SET LOCAL` does: it never
 * outlives the transaction. Set back also when `read` fails, if the transaction still takes
 * statements (an error of Prisma's own, not the database's); `read`'s error is the one to see.
 */
async function inUtc<T>(tx: PrismaTransactionLike, read: () => PromiseLike<T>): Promise<T> {
  const [session] = await tx.$queryRawUnsafe<{ zone: string }[]>(
    `SELECT current_setting('TimeZone') AS zone, set_config('TimeZone', 'UTC', true) AS utc`,
  );
  const setBack = () => tx.$executeRawUnsafe(`SELECT set_config('TimeZone', $1, true)`, session?.zone ?? 'UTC');
  let result: T;
  try {
    result = await read();
  } catch (error) {
    await Promise.resolve(setBack()).catch(() => undefined); // an aborted transaction refuses it
    throw error;
  }
  await setBack();
  return result;
}
