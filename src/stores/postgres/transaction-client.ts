import { ValidationError } from '../../errors.ts';
import { isQueryable, type PgQueryable } from './pg-types.ts';

/**
 * The `tx` an application passes to `addJob`/`addSchedule`, checked to be inside a transaction as
 * far as can be told: a `pg` client inside `BEGIN`, or what an adapter (`fromKysely(trx)`, ...)
 * makes of an ORM transaction. Written anywhere else, the job would be kept whatever becomes of
 * the work it was meant to go with.
 */
export function transactionClient(tx: unknown): PgQueryable {
  if (!isQueryable(tx)) {
    throw new ValidationError(
      'tx',
      tx,
      'must be a pg client inside BEGIN (or an ORM transaction through a kairos/postgres adapter such as fromKysely(trx))',
    );
  }
  // A pool runs each query on whichever connection is free, outside any transaction of yours.
  if (typeof (tx as { totalCount?: unknown }).totalCount === 'number') {
    throw new ValidationError(
      'tx',
      'a pg Pool',
      'must be a client checked out from the pool (await pool.connect()) inside BEGIN, not the pool itself',
    );
  }
  // What can start a transaction is not one: a database or an ORM's handle (TypeORM's DataSource,
  // EntityManager and QueryRunner all answer query(), each on a connection of its own).
  if (['transaction', 'startTransaction', 'createQueryRunner'].some((name) => hasMethod(tx, name))) {
    throw new ValidationError(
      'tx',
      tx,
      'is a database or ORM handle, not a transaction: pass a pg client inside BEGIN, or the ORM transaction through its kairos/postgres adapter (TypeORM: fromTypeOrm(manager) inside dataSource.transaction)',
    );
  }
  if (isIdlePgClient(tx)) {
    throw new ValidationError(
      'tx',
      'a pg client outside a transaction',
      'must be inside BEGIN: with no transaction open on it, or once the transaction ended (a handle kept past db.transaction(...)), the job would be written on its own and survive any rollback',
    );
  }
  return answeringLikePg(tx);
}

function hasMethod(value: object, name: string): boolean {
  return typeof (value as Record<string, unknown>)[name] === 'function';
}

/**
 * `tx`, refusing an answer that is not `{ rows, rowCount }` as pg gives it to Kairos's statements:
 * Kairos reads both (a count of 0 tells a duplicate job id).
 */
function answeringLikePg(tx: PgQueryable): PgQueryable {
  return {
    async query<Row>(text: string, values?: unknown[]) {
      const answer = await tx.query<Row>(text, values);
      const rowCount = (answer as { rowCount?: unknown } | undefined)?.rowCount;
      if (!Array.isArray(answer?.rows) || typeof rowCount !== 'number') {
        throw new ValidationError(
          'tx',
          tx,
          'answered a query without { rows, rowCount } as pg does: is it an ORM handle that needs its kairos/postgres adapter?',
        );
      }
      return answer;
    },
  };
}

/** The parts of a `pg` client that say whether it is in a transaction (pg 8.21+ for the status). */
interface PgClientState {
  getTransactionStatus?: () => unknown;
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
}

/**
 * Whether `tx` is a `pg` client known to be outside any transaction: its last answer said so
 * ('I'), and nothing is queued on it since. A BEGIN sent but not yet answered runs before the
 * job's statements (a client runs its queries in order), so a client with queries under way is
 * given the benefit of the doubt. A status that cannot be read (an older pg, a native client
 * without it) says nothing.
 */
function isIdlePgClient(tx: object): boolean {
  const client = tx as PgClientState;
  let status: unknown;
  try {
    status = client.getTransactionStatus?.();
  } catch {
    return false;
  }
  const busy = (client._activeQuery ?? null) !== null || (client._queryQueue?.length ?? 0) > 0;
  return status === 'I' && !busy;
}
