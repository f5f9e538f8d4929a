import { ValidationError } from '../../errors.ts';
import { transactionOver } from './transaction-over.ts';
import type { PgQueryable, PgQueryResult } from '../../stores/postgres/pg-types.ts';

/** The part of a Knex transaction (client `pg`) the adapter uses, declared structurally. */
export interface KnexTransactionLike {
  readonly isTransaction?: boolean;
  /** True once the transaction is committed or rolled back. */
  isCompleted?(): boolean;
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<unknown>;
}

/**
 * Kairos statements on a Knex transaction: `addJob(task, { tx: fromKnex(trx) })` inside
 * `knex.transaction(async (trx) => ...)`.
 *
 * Knex's `raw` takes `?` placeholders, Kairos writes `$1`: each `$n` becomes a `?` with its value
 * bound in that position (a value used twice is bound twice), and every `?` already in the text is
 * escaped (`\?`) so Knex leaves it alone. This is safe because Kairos's SQL never has `$n` inside a
 * string literal, a quoted identifier or a dollar-quoted body; it is meant for Kairos's own
 * statements, not as a general `$n` translator. On the `pg` client, `knex.raw` answers with the
 * driver's own result (`rows`, `rowCount`), which is what Kairos reads.
 */
export function fromKnex(trx: KnexTransactionLike): PgQueryable {
  if (typeof trx?.raw !== 'function' || trx.isTransaction !== true) {
    throw new ValidationError(
      'fromKnex(trx)',
      trx,
      'must be a Knex transaction: the `trx` of knex.transaction(async (trx) => ...), not the knex instance',
    );
  }
  return {
    async query<Row>(text: string, values: unknown[] = []): Promise<PgQueryResult<Row>> {
      if (trx.isCompleted?.() === true) throw transactionOver('fromKnex(trx)', 'a Knex transaction', undefined);
      const { sql, bindings } = toKnexBindings(text, values);
      const result = (await trx.raw(sql, bindings)) as Partial<PgQueryResult<Row>> | undefined;
      if (result === undefined || !Array.isArray(result.rows)) {
        throw new ValidationError('fromKnex(trx)', trx, "must be a Knex transaction on the PostgreSQL client ('pg')");
      }
      return { rows: result.rows, rowCount: result.rowCount ?? null };
    },
  };
}

/** `$1`-style SQL as Knex `?` bindings (exported for tests). */
export function toKnexBindings(text: string, values: readonly unknown[]): { sql: string; bindings: unknown[] } {
  const bindings: unknown[] = [];
  const sql = text.replace(/\?|\$(\d+)/g, (match, position: string | undefined) => {
    if (position === undefined) return '\\?';
    const index = Number(position) - 1;
    if (index < 0 || index >= values.length) {
      throw new ValidationError('SQL parameter', match, `has no value (${values.length} given)`);
    }
    // pg sends undefined as NULL; Knex refuses undefined bindings.
    bindings.push(values[index] ?? null);
    return '?';
  });
  return { sql, bindings };
}
