import { ValidationError } from '../../errors.ts';
import { isQueryable, type PgQueryable } from '../../stores/postgres/pg-types.ts';

/** The part of a Drizzle transaction (`drizzle-orm/node-postgres`) the adapter uses, declared structurally. */
export interface DrizzleTransactionLike {
  rollback(): never;
  readonly _: { readonly session: unknown };
}

/**
 * Kairos statements on a Drizzle transaction: `addJob(task, { tx: fromDrizzle(tx) })` inside
 * `db.transaction(async (tx) => ...)` with the node-postgres driver.
 *
 * Drizzle's own `tx.execute(sql)` takes no `$1` parameters from outside, and its prepared queries
 * return timestamps as strings; so the adapter hands Kairos the `pg` client the transaction runs on
 * (the session's connection inside Drizzle's `BEGIN`), which is exactly what a raw `pg` user passes.
 */
export function fromDrizzle(tx: DrizzleTransactionLike): PgQueryable {
  if (typeof tx?.rollback !== 'function' || typeof tx._ !== 'object' || tx._ === null) {
    throw new ValidationError(
      'fromDrizzle(tx)',
      tx,
      'must be a Drizzle transaction: the `tx` of db.transaction(async (tx) => ...), not the database',
    );
  }
  const client = (tx._.session as { client?: unknown } | null)?.client;
  if (!isQueryable(client) || typeof (client as { connect?: unknown }).connect !== 'function') {
    throw new ValidationError(
      'fromDrizzle(tx)',
      tx,
      'must be a transaction of the node-postgres driver (drizzle-orm/node-postgres); its session has no pg client',
    );
  }
  return client;
}
